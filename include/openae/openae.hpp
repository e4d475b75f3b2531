// openae — the whole C++ API. What the lifecycle calls do exactly: docs/contract.md.
#pragma once
#pragma GCC visibility push(default) // libopenae exports what its public headers declare

#include <openae/control/config.h>
#include <openae/control/context.h>
#include <openae/control/endpoint.h>
#include <openae/control/event.h>
#include <openae/engine/engine.h>
#include <openae/pipeline/block_resampler.h>
#include <openae/pipeline/chain.h>
#include <openae/pipeline/convert.h>
#include <openae/pipeline/device.h>
#include <openae/pipeline/device_spec.h>
#include <openae/pipeline/device_thread.h>
#include <openae/pipeline/devices.h>
#include <openae/pipeline/rdp.h>
#include <openae/pipeline/gain.h>
#include <openae/pipeline/meter.h>
#include <openae/pipeline/remix.h>
#include <openae/pipeline/resampler.h>
#include <openae/pipeline/virtual_clock.h>
#include <openae/rt/capture_device_port.h>
#include <openae/rt/capture_endpoint_rt.h>
#include <openae/rt/endpoint_core.h>
#include <openae/rt/errc.h>
#include <openae/rt/event_signal.h>
#include <openae/rt/frame_ring.h>
#include <openae/rt/glitch.h>
#include <openae/rt/monotonic_clock.h>
#include <openae/rt/position_clock.h>
#include <openae/rt/seqlock.h>
#include <openae/rt/rate_estimator.h>
#include <openae/rt/render_device_port.h>
#include <openae/rt/render_endpoint_rt.h>
#include <openae/rt/spsc_queue.h>
#include <openae/rt/thread_name.h>
#include <openae/rt/types.h>

#pragma GCC visibility pop
