// Reliability metrics over n repeated runs of one case, c of which passed.
// pass@k: chance at least one of k draws (without replacement) passes (unbiased estimator,
// Chen et al. 2021). pass^k: chance all k draws pass (τ-bench).

/** C(n, k) as a float; 0 when k > n or k < 0. */
export function binomial(n: number, k: number): number {
  if (k < 0 || k > n) return 0;
  let r = 1;
  for (let i = 1; i <= Math.min(k, n - k); i++) r = (r * (n - Math.min(k, n - k) + i)) / i;
  return r;
}

function check(n: number, c: number, k: number): void {
  if (![n, c, k].every(Number.isInteger) || n < 1 || c < 0 || c > n || k < 1 || k > n) {
    throw new RangeError(`need integers 0 <= c <= n, 1 <= k <= n (n=${n}, c=${c}, k=${k})`);
  }
}

/** 1 − C(n−c, k) / C(n, k) */
export function passAtK(n: number, c: number, k: number): number {
  check(n, c, k);
  return 1 - binomial(n - c, k) / binomial(n, k);
}

/** C(c, k) / C(n, k) */
export function passHatK(n: number, c: number, k: number): number {
  check(n, c, k);
  return binomial(c, k) / binomial(n, k);
}
