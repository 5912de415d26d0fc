// Issue 9 asks for 1.5× ejabberd's logins/s. The load generator runs on the
// same machine, so at that rate the cores leave a server only the CPU the load
// generator does not use: this is the most server CPU per login that can reach it.

/** What one logins run measured (the logins scenario's figures). */
export interface LoginRun {
  loginsPerSecond: number;
  logins: number;
  serverCpuSeconds: number;
  loadgenCpuSeconds: number;
}

export interface LoginBudget {
  /** 1.5× the reference's logins/s. */
  wantedPerSecond: number;
  /** The load generator's CPU per login, as measured against the reference. */
  loadgenMsPerLogin: number;
  /** Server CPU per login that the target rate leaves on `cpus` cores; 0 or less means none. */
  serverBudgetMs: number;
  ourServerMsPerLogin: number;
  theirServerMsPerLogin: number;
  met: boolean;
}

export function loginBudget(ours: LoginRun, reference: LoginRun, cpus: number): LoginBudget {
  const wantedPerSecond = 1.5 * reference.loginsPerSecond;
  const loadgenMsPerLogin = (1000 * reference.loadgenCpuSeconds) / reference.logins;
  return {
    wantedPerSecond,
    loadgenMsPerLogin,
    serverBudgetMs: (1000 * cpus) / wantedPerSecond - loadgenMsPerLogin,
    ourServerMsPerLogin: (1000 * ours.serverCpuSeconds) / ours.logins,
    theirServerMsPerLogin: (1000 * reference.serverCpuSeconds) / reference.logins,
    met: ours.loginsPerSecond >= wantedPerSecond,
  };
}
