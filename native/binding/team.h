// How many threads a kernel's OpenMP team gets: the thread setting, less the cores other
// processes are keeping busy right now. On a 2-core machine one busy neighbour leaves one core:
// a 2-thread team there waits at every barrier for whichever thread the scheduler parked, and
// ran slower than 1 thread (bench/NOTES.md, issue 10).
#pragma once

namespace deepconv {

// requested >= 1. Linux: measured from /proc/stat against this process's own CPU time, over
// windows of about 200 ms; elsewhere, or with DEEPCONV_ADAPTIVE_THREADS=0, `requested` itself.
int team_size(int requested);

// {cores other processes kept busy in the last window (-1 before the first), the team it allows}.
struct TeamAdvice {
  double others_busy;
  int cores;
};
TeamAdvice team_advice();

}  // namespace deepconv
