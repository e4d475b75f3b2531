// openae — the whole C++ API. See shared/API.md for the contract these names implement.
#pragma once

#include <openae/rt/capture_device_port.h>
#include <openae/rt/capture_endpoint_rt.h>
#include <openae/rt/endpoint_core.h>
#include <openae/rt/errc.h>
#include <openae/rt/frame_ring.h>
#include <openae/rt/glitch.h>
#include <openae/rt/monotonic_clock.h>
#include <openae/rt/position_clock.h>
#include <openae/rt/rate_estimator.h>
#include <openae/rt/render_device_port.h>
#include <openae/rt/render_endpoint_rt.h>
#include <openae/rt/spsc_queue.h>
#include <openae/rt/thread_name.h>
#include <openae/rt/types.h>
