// openae — chains: one endpoint's stages between its ring and a device thread's mix.
//
// A render chain pulls the endpoint's frames (in the endpoint's format), converts them to f32,
// remixes them to the device's channels, resamples them to the device's rate (libsoxr, only when
// the rates differ), applies the endpoint's gain and meters them; the device thread then adds
// them into its mix. A capture chain is the mirror: device f32 → remix → resample → gain → meter
// → the endpoint's sample type → the endpoint's ring.
//
// A chain is an actor owned by one device thread: built (allocating) on the control side, moved
// to the device thread as a std::unique_ptr through a queue, and moved back to the control side
// to die. Its member functions other than create / gain() / meter() are for the device thread.
//
// Where the stream's format changes at an epoch seam, sample type and channel count follow at
// once (conversion and remix are rebuilt without allocating); a new sample *rate* needs a new
// resampler, which the control plane builds (issue 5: a new chain swapped at the seam) — until
// then such frames are dropped and counted.
#pragma once
#pragma GCC visibility push(default) // libopenae exports what its public headers declare

#include <openae/pipeline/capture_chain.h>
#include <openae/pipeline/chain_base.h>
#include <openae/pipeline/render_chain.h>

#pragma GCC visibility pop
