/* The machine's float32 FMA limit: independent fused multiply-add chains in vector registers,
 * one OpenMP thread per core asked for. Built and run by bench/peer/peer.ts:
 *   gcc -O3 -march=native -fopenmp fma.c -o fma && OMP_NUM_THREADS=2 ./fma [FMA lanes per thread]
 * Prints GFLOP/s (2 FLOP per lane per FMA) over wall time and per CPU second. */
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>

#if defined(__AVX512F__)
#define LANES 16
#elif defined(__AVX__)
#define LANES 8
#else
#define LANES 4
#endif
#define CHAINS 12 /* enough independent accumulators to cover the FMA latency on two pipes */

typedef float vec __attribute__((vector_size(LANES * 4)));

static double cpu_seconds(void) {
  struct rusage r;
  getrusage(RUSAGE_SELF, &r);
  return r.ru_utime.tv_sec + r.ru_stime.tv_sec + 1e-6 * (r.ru_utime.tv_usec + r.ru_stime.tv_usec);
}

static volatile float seed_a = 0.999999f, seed_b = 1e-7f; /* unknown to the compiler: nothing folds */

int main(int argc, char **argv) {
  const long iters = (argc > 1 ? atol(argv[1]) : 2000000000L) / LANES;
  double sink = 0;
  int threads = 1;
  double t0 = omp_get_wtime(), c0 = cpu_seconds();
#pragma omp parallel reduction(+ : sink)
  {
#pragma omp single
    threads = omp_get_num_threads();
    vec acc[CHAINS];
    vec a, b;
    for (int l = 0; l < LANES; l++) { a[l] = seed_a; b[l] = seed_b * (l + 1); }
    for (int c = 0; c < CHAINS; c++) for (int l = 0; l < LANES; l++) acc[c][l] = (float)(c + l);
    for (long i = 0; i < iters; i++) {
#pragma GCC unroll 12
      for (int c = 0; c < CHAINS; c++) acc[c] = acc[c] * a + b;
    }
    for (int c = 0; c < CHAINS; c++) for (int l = 0; l < LANES; l++) sink += acc[c][l];
  }
  double seconds = omp_get_wtime() - t0, cpu = cpu_seconds() - c0;
  double flop = 2.0 * LANES * CHAINS * (double)iters * threads;
  /* gflops: over wall time; gflops_per_cpu_second: over the CPU time the threads got, which
     a loaded machine's time-slicing does not lower: the rate of one core while it runs. */
  printf("{\"threads\": %d, \"lanes\": %d, \"seconds\": %.4f, \"cpu_seconds\": %.4f, \"gflops\": %.1f, \"gflops_per_cpu_second\": %.1f, \"sink\": %g}\n",
         threads, LANES, seconds, cpu, flop / seconds / 1e9, flop / cpu / 1e9, sink);
  return 0;
}
