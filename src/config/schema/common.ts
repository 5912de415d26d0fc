import { isIP } from 'node:net';
import { z } from 'zod';

// Building blocks shared by the sections. Every leaf carries its default and a
// one-line description (`.describe()` last, so it sits on the outermost schema):
// the template and the error hints read both from here.

/** A TCP port; 0 lets the OS pick a free one (used by tests). */
export const port = () => z.int().min(0).max(65535);

/** Where a listener binds: an IP literal (v4 or v6, without brackets) or 'localhost'. */
export const bindAddress = () =>
  z.string().superRefine((address, ctx) => {
    if (address !== 'localhost' && isIP(address) === 0) {
      ctx.addIssue({ code: 'custom', message: "must be an IP address or 'localhost'", params: { hint: "use 0.0.0.0 or :: for all interfaces" } });
    }
  });

/** A file system path as written in the file; resolving it is the loader's or the user's job. */
export const filePath = () =>
  z
    .string()
    .min(1)
    .superRefine((path, ctx) => {
      if (path.includes('\0')) ctx.addIssue({ code: 'custom', message: 'must not contain a NUL character' });
      // Otherwise a folder literally named "~" appears next to the config file.
      else if (path === '~' || path.startsWith('~/')) {
        ctx.addIssue({ code: 'custom', message: "'~' is not expanded", params: { hint: 'write the full path' } });
      }
    });

/** A list of distinct values from a fixed set. */
export const distinctList = <const T extends readonly [string, ...string[]]>(values: T) =>
  z.array(z.enum(values)).superRefine((list, ctx) => {
    list.forEach((item, index) => {
      if (list.indexOf(item) !== index) ctx.addIssue({ code: 'custom', path: [index], message: `'${item}' is listed twice` });
    });
  });
