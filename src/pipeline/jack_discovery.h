// JACK servers for discovery and hotplug (jack_discovery.cpp).
#pragma once

#include <openae/pipeline/device_discovery.h>

#include <string>
#include <vector>

namespace ae::pipeline {

// The server a JACK client reaches when it names none ($JACK_DEFAULT_SERVER, else "default").
[[nodiscard]] std::string default_jack_server();
// The servers of this user that run now, by the files jackd keeps in /dev/shm while it runs.
[[nodiscard]] std::vector<std::string> running_jack_servers();
// Server `name`'s physical playback and capture ports as devices (none if it does not answer).
[[nodiscard]] std::vector<available_device> discover_jack_server(const std::string& name);

} // namespace ae::pipeline
