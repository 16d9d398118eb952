#include "mixer/span.hpp"

#include "mixer/conference.hpp"

namespace chorus::mixer {

SpanEndpoint::SpanEndpoint(std::vector<Port> ports)
    : ports_(std::move(ports)), scratch_(std::make_unique<SpanPacket>()) {}

void SpanEndpoint::receive(Conference& conference) {
  for (size_t i = 0; i < ports_.size(); ++i) {
    SpanRing& ring = inbound(ports_[i]);
    bool got = false;
    // Keep only the newest: if this shard fell behind, mixing an old partial
    // sum would only add latency.
    while (ring.try_pop(*scratch_)) {
      if (got) ++counters_.stale_skipped;
      got = true;
      ++counters_.received;
    }
    if (got) conference.set_remote(i, *scratch_);
  }
}

void SpanEndpoint::send(const Conference& conference) {
  for (const Port& port : ports_) {
    if (outbound(port).try_push(conference.span_out())) {
      ++counters_.sent;
    } else {
      ++counters_.send_dropped;
    }
  }
}

}  // namespace chorus::mixer
