/* Native reference for dlnlab.bench.sde: the Euler-Maruyama ensemble of
 * dlnlab.kernel.Sde (doc/science.md section 7) in C, with the same scheme, the
 * same Gaussian generator and the same blocking, as the physical anchor of the
 * benchmark. The benchmark compiles it into a temporary directory with
 * gcc -O3 -march=native -ffp-contract=off -fno-math-errno (no fused
 * multiply-add but the ones written out, as in Java; sqrt without errno, so it
 * vectorizes) and runs it; nothing built from it is kept.
 *
 *   da = a^(L-1) (s - a^L) dt + c a^(L-1) sqrt(2 (a^L - s)^2 + sigma^2) dW,
 *   step: a + m (c sqrt(q) dW - e dt) with m = a^(L-1), e = a^L - s, q = 2 e^2 + sigma^2.
 *
 * Noise: for path p, mode i and step n, dW = sqrt(dt) z with z the standard
 * normal at (key, 2n), key = Rng.bits(seed, p, i): SplitMix64 of key + 2n GOLDEN
 * into a 1024-layer ziggurat (dlnlab.kernel.Normal). The layer table (the edges
 * x_i and f(x_i)) is read from a file the benchmark writes from Normal, so both
 * sides draw the same numbers; the rare wedge and tail draws use the C library's
 * exp and log where Java uses its own, so a path may in principle differ after
 * such a draw (the benchmark compares the records).
 *
 * Absorbing at 0, divergence bound 1e3 (the path is frozen and records the
 * bound), state recorded every 100 steps, no passage levels.
 *
 * usage: sde_native TABLE paths modes steps depth repeats
 * prints one JSON line: median wall and process CPU seconds over the repeats,
 * and a hash (FNV-1a over the bits of every record) and the sum of the records.
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define LAYERS 1024
#define BLOCK_ITEMS 256
#define GOLDEN 0x9E3779B97F4A7C15ULL
#define SALT_A 0xD6E8FEB86659FD93ULL
#define SALT_B 0xA0761D6478BD642FULL

static double X[LAYERS + 1], F[LAYERS + 1], RATIO[LAYERS], X53[LAYERS + 1], LIM53[LAYERS];
static double TAIL_START;

static inline uint64_t mix64(uint64_t z) {
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
  return z ^ (z >> 31);
}

/* Rng.bits(seed, stream, index) */
static uint64_t rng_bits(uint64_t seed, uint64_t stream, uint64_t index) {
  uint64_t k = mix64(seed + GOLDEN);
  k = mix64(k ^ (stream * GOLDEN + 0x632BE59BD9B4E019ULL));
  return mix64(k ^ (index * 0xD1B54A32D192ED03ULL + GOLDEN));
}

static double uniform_open(uint64_t h) { return ((double) (h >> 11) + 0.5) * 0x1.0p-53; }

static double fx(double x) { return exp(-0.5 * x * x); }

/* Normal.slow: wedge and tail draws by re-mixing the bits. */
static double normal_slow(uint64_t b) {
  uint64_t h = b;
  for (;;) {
    int i = (int) (h & (LAYERS - 1));
    double su = (double) ((int64_t) h >> 10) * 0x1.0p-53;
    double u = fabs(su);
    double sign = su < 0.0 ? -1.0 : 1.0;
    double x = u * X[i];
    if (u < RATIO[i]) return sign * x;
    h = mix64(h ^ SALT_A);
    if (i == 0) {
      for (;;) {
        double t = -log(uniform_open(h)) / TAIL_START;
        h = mix64(h ^ SALT_B);
        double y = -log(uniform_open(h));
        h = mix64(h ^ SALT_A);
        if (y + y > t * t) return sign * (TAIL_START + t);
      }
    }
    double yv = F[i] + uniform_open(h) * (F[i + 1] - F[i]);
    if (yv < fx(x)) return sign * x;
    h = mix64(h ^ SALT_B);
  }
}

static void read_table(const char *path) {
  FILE *f = fopen(path, "r");
  if (!f) { perror(path); exit(2); }
  char buf[64];
  if (fscanf(f, "%63s", buf) != 1) exit(2);
  TAIL_START = strtod(buf, NULL);
  for (int i = 0; i <= LAYERS; i++) { if (fscanf(f, "%63s", buf) != 1) exit(2); X[i] = strtod(buf, NULL); }
  for (int i = 0; i <= LAYERS; i++) { if (fscanf(f, "%63s", buf) != 1) exit(2); F[i] = strtod(buf, NULL); }
  fclose(f);
  for (int i = 0; i < LAYERS; i++) RATIO[i] = X[i + 1] / X[i];
  for (int i = 0; i <= LAYERS; i++) X53[i] = X[i] * 0x1.0p-53;
  for (int i = 0; i < LAYERS; i++) LIM53[i] = RATIO[i] * 0x1.0p53;
}

typedef struct {
  int depth, modes, paths, steps, record_every;
  double c, sig2, dt, sqdt, bound;
  const double *s;
  double a0;
  uint64_t seed;
  double *out;
  unsigned char *status;
} job_t;

static void run_block(const job_t *jb, int p0, int p1) {
  const int modes = jb->modes, items = (p1 - p0) * modes;
  double cur[BLOCK_ITEMS], nxt[BLOCK_ITEMS], z[BLOCK_ITEMS], target[BLOCK_ITEMS], hi[BLOCK_ITEMS];
  uint64_t key[BLOCK_ITEMS], bits[BLOCK_ITEMS];
  int rej[BLOCK_ITEMS];
  for (int p = p0, j = 0; p < p1; p++)
    for (int i = 0; i < modes; i++, j++) {
      cur[j] = jb->a0;
      key[j] = rng_bits(jb->seed, (uint64_t) p, (uint64_t) i);
      target[j] = jb->s[i];
      hi[j] = jb->bound;
      jb->status[i * jb->paths + p] = 0;
    }
  const double cc = jb->c, sg2 = jb->sig2, h = jb->dt, sh = jb->sqdt;
  const int lm1 = jb->depth - 1;
  for (int p = p0, j = 0; p < p1; p++)
    for (int i = 0; i < modes; i++, j++) jb->out[(size_t) i * jb->paths + p] = cur[j];
  for (int n = 0; n < jb->steps; n++) {
    const uint64_t ctr = (uint64_t) (2 * (int64_t) n) * GOLDEN;
    for (int j = 0; j < items; j++) {
      uint64_t v = key[j] + ctr;
      v = (v ^ (v >> 30)) * 0xBF58476D1CE4E5B9ULL;
      v = (v ^ (v >> 27)) * 0x94D049BB133111EBULL;
      bits[j] = v ^ (v >> 31);
    }
    /* the ziggurat's fast path, vectorized; the rare rejected draws are redone exactly */
    int bad = 0;
    for (int j = 0; j < items; j++) {
      uint64_t b = bits[j];
      int i = (int) (b & (LAYERS - 1));
      double v = (double) ((int64_t) b >> 10);
      z[j] = v * X53[i];
      int r = !(fabs(v) < LIM53[i]);
      rej[j] = r;
      bad |= r;
    }
    if (bad)
      for (int j = 0; j < items; j++)
        if (rej[j]) z[j] = normal_slow(bits[j]);
    /* the step, with a^(L-1) as the same left-to-right products as Java's */
    switch (jb->depth) {
      case 2:
        for (int j = 0; j < items; j++) {
          double a = cur[j], dW = sh * z[j];
          double e = fma(a, a, -target[j]);
          double r = sqrt(fma(e + e, e, sg2)) * (cc * dW);
          nxt[j] = fma(a, fma(-e, h, r), a);
        }
        break;
      case 3:
        for (int j = 0; j < items; j++) {
          double a = cur[j], m = a * a, dW = sh * z[j];
          double e = fma(m, a, -target[j]);
          double r = sqrt(fma(e + e, e, sg2)) * (cc * dW);
          nxt[j] = fma(m, fma(-e, h, r), a);
        }
        break;
      default:
        for (int j = 0; j < items; j++) {
          double a = cur[j], m = a, dW = sh * z[j];
          for (int k = 1; k < lm1; k++) m *= a;
          double e = fma(m, a, -target[j]);
          double r = sqrt(fma(e + e, e, sg2)) * (cc * dW);
          nxt[j] = fma(m, fma(-e, h, r), a);
        }
    }
    /* range check: the rare values outside [0, hi) are handled one by one */
    int out = 0;
    for (int j = 0; j < items; j++) {
      double v = nxt[j];
      out |= !((v >= 0.0) & (v < hi[j]));
      cur[j] = v;
    }
    if (out)
      for (int j = 0; j < items; j++) {
        double v = cur[j];
        if (!(v >= 0.0 && v < hi[j])) {
          int p = p0 + j / modes, i = j % modes;
          unsigned char *st = &jb->status[i * jb->paths + p];
          if (v < 0.0 && v >= -jb->bound) { *st |= 1; v = 0.0; }
          else if (!(v >= -jb->bound && v <= jb->bound)) { *st |= 2; hi[j] = INFINITY; v = 0.0; }
          cur[j] = v;
        }
      }
    if ((n + 1) % jb->record_every == 0) {
      int r = (n + 1) / jb->record_every;
      for (int p = p0, j = 0; p < p1; p++)
        for (int i = 0; i < modes; i++, j++)
          jb->out[((size_t) r * modes + i) * jb->paths + p] =
              (jb->status[i * jb->paths + p] & 2) ? jb->bound : cur[j];
    }
  }
}

static double now(clockid_t id) {
  struct timespec ts;
  clock_gettime(id, &ts);
  return (double) ts.tv_sec + 1e-9 * (double) ts.tv_nsec;
}

static int cmp(const void *a, const void *b) {
  double x = *(const double *) a, y = *(const double *) b;
  return (x > y) - (x < y);
}

int main(int argc, char **argv) {
  if (argc < 7) { fprintf(stderr, "usage: %s TABLE paths modes steps depth repeats\n", argv[0]); return 2; }
  read_table(argv[1]);
  int paths = atoi(argv[2]), modes = atoi(argv[3]), steps = atoi(argv[4]), depth = atoi(argv[5]), repeats = atoi(argv[6]);
  const double lr = 0.05, batch = 4.0, sigma = 0.5;
  double *s = malloc(sizeof(double) * modes);
  for (int i = 0; i < modes; i++) s[i] = modes == 1 ? 1.0 : 1.0 + (2.0 * i) / (double) (modes - 1);
  job_t jb = {depth, modes, paths, steps, 100, sqrt(lr / batch), sigma * sigma, 1e-3, sqrt(1e-3), 1e3,
              s, 0.1, 1, NULL, NULL};
  int records = steps / jb.record_every + 1;
  size_t nout = (size_t) records * modes * paths;
  jb.out = malloc(sizeof(double) * nout);
  jb.status = malloc((size_t) modes * paths);
  int block_paths = BLOCK_ITEMS / modes > 0 ? BLOCK_ITEMS / modes : 1;
  double *walls = malloc(sizeof(double) * (repeats + 1)), *cpus = malloc(sizeof(double) * (repeats + 1));
  for (int rep = -1; rep < repeats; rep++) { /* rep -1: warm-up */
    double w0 = now(CLOCK_MONOTONIC), c0 = now(CLOCK_PROCESS_CPUTIME_ID);
    for (int p0 = 0; p0 < paths; p0 += block_paths)
      run_block(&jb, p0, p0 + block_paths < paths ? p0 + block_paths : paths);
    if (rep >= 0) { walls[rep] = now(CLOCK_MONOTONIC) - w0; cpus[rep] = now(CLOCK_PROCESS_CPUTIME_ID) - c0; }
  }
  qsort(walls, repeats, sizeof(double), cmp);
  qsort(cpus, repeats, sizeof(double), cmp);
  uint64_t hash = 0xcbf29ce484222325ULL;
  double sum = 0.0;
  for (size_t k = 0; k < nout; k++) {
    uint64_t b;
    memcpy(&b, &jb.out[k], 8);
    hash = (hash ^ b) * 0x100000001b3ULL;
    sum += jb.out[k];
  }
  printf("{\"peer\": \"c\", \"median_seconds\": %.9g, \"median_cpu_seconds\": %.9g, \"hash\": \"%016llx\", \"sum\": %.17g}\n",
         walls[repeats / 2], cpus[repeats / 2], (unsigned long long) hash, sum);
  return 0;
}
