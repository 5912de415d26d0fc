// The invitation pages: plain server-rendered HTML, no script (the CSP allows
// none inline, and none is needed). Every value shown is escaped.
import { escapeAttr, escapeText } from '../../xmpp/element.ts';

const STYLE = 'body{font-family:system-ui,sans-serif;max-width:32rem;margin:3rem auto;padding:0 1rem;line-height:1.5}label{display:block;margin-top:1rem}input{width:100%;padding:.4rem;font-size:1rem;box-sizing:border-box}button{margin-top:1.5rem;padding:.5rem 1.5rem;font-size:1rem}.error{color:#a00;border-left:4px solid #a00;padding-left:.5rem}';

function page(title: string, body: string): string {
  return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<title>${escapeText(title)}</title>
<style>${STYLE}</style>
</head>
<body>
${body}
</body>
</html>
`;
}

export function formPage(o: { domain: string; fixedLocalpart: string | null; username: string; minLength: number; error?: string }): string {
  const name = o.fixedLocalpart
    ? `<p>Your address will be <strong id="jid">${escapeText(`${o.fixedLocalpart}@${o.domain}`)}</strong>.</p>`
    : `<label for="username">User name (your address will be <em>name</em>@${escapeText(o.domain)})</label>
<input id="username" name="username" value="${escapeAttr(o.username)}" required maxlength="1023" autocomplete="username" autocapitalize="none" spellcheck="false">`;
  return page(
    `Create your account on ${o.domain}`,
    `<h1>Create your account on ${escapeText(o.domain)}</h1>
${o.error ? `<p class="error" role="alert">${escapeText(o.error)}</p>` : ''}
<form method="post">
${name}
<label for="password">Password (at least ${o.minLength} characters, not a common one)</label>
<input id="password" name="password" type="password" required minlength="${o.minLength}" maxlength="1023" autocomplete="new-password">
<label for="confirm">The same password again</label>
<input id="confirm" name="confirm" type="password" required maxlength="1023" autocomplete="new-password">
<button type="submit">Create account</button>
</form>
<p>This invitation works once.</p>`,
  );
}

export function successPage(jid: string): string {
  return page(
    'Account created',
    `<h1>Your account is ready</h1>
<p>Your address: <strong id="jid">${escapeText(jid)}</strong></p>
<p><a href="/" id="web-client">Open the web client</a>, or sign in with any XMPP app using this address and your password.</p>`,
  );
}

export function messagePage(title: string, text: string): string {
  return page(title, `<h1>${escapeText(title)}</h1>\n<p>${escapeText(text)}</p>`);
}
