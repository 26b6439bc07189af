/* The core clock now: a loop of dependent `dec; jnz` (one iteration per cycle) timed
 * against CLOCK_MONOTONIC. Build and run: cc -O2 docs/results/cpu_clock.c -o /tmp/clk && /tmp/clk
 * On this project's VM on 2026-12-07 it printed 1.69 to 2.58 GHz within one minute
 * (idle), which is why speed is only ever compared within one interleaved run. */
#include <stdio.h>
#include <time.h>
int main(){struct timespec a,b;long n=1000000000;clock_gettime(CLOCK_MONOTONIC,&a);
__asm__ volatile("1: dec %0\n jnz 1b" : "+r"(n));
clock_gettime(CLOCK_MONOTONIC,&b);double s=(b.tv_sec-a.tv_sec)+(b.tv_nsec-a.tv_nsec)*1e-9;printf("%.2f GHz (1 cycle/iter loop)\n",1e9/s/1e9);}
