// Checks of what holds only while real-time threads keep their deadlines: every gap counted, a
// queue on its target, no underrun, a signal unbroken on a paced device.
//
// A sanitizer's runtime takes locks of its own (its allocator, TSan's shadow and report state)
// inside malloc, free and instrumented code. An RT thread can wait on one held by a
// normal-priority thread that the machine has descheduled — priority inversion no SCHED_FIFO
// avoids — and everything runs 2-15x slower besides. Measured here: PipeWire's and openae's
// data threads at SCHED_FIFO 88 still missed graph cycles under TSan on a loaded machine, which
// no part of openae can see or count.
//
// So in the sanitizer configurations (asan, tsan) these checks are reported, not failed: the run
// still drives the same paths for memory errors and races, and still fails on everything else
// (a wrong frame, a frame out of order, a crash). The dev configuration fails on them.
#pragma once

#include <doctest/doctest.h>

#if defined(OPENAE_SANITIZED)
#define AE_CHECK_TIMING(...) WARN(__VA_ARGS__)
#else
#define AE_CHECK_TIMING(...) CHECK(__VA_ARGS__)
#endif
