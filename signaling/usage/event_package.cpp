#include "signaling/usage/event_package.hpp"

#include "signaling/message/header_misc.hpp"
#include "signaling/message/header_params.hpp"

namespace chorus::sip {
namespace {

// Does one Accept element ("application/*;q=0.5") admit `type`?
bool range_admits(std::string_view range, const ContentType& type) {
  const auto parsed = parse_content_type(range);
  if (!parsed) return false;
  // RFC 3261 §20.1 / RFC 2616 §14.1: q=0 means "not acceptable".
  if (const auto q = parsed->param("q")) {
    const std::string_view v = trim(*q);
    if (!v.empty() && v.find_first_not_of("0.") == std::string_view::npos) return false;
  }
  if (parsed->type == "*") return parsed->subtype == "*";
  if (!iequals(parsed->type, type.type)) return false;
  return parsed->subtype == "*" || iequals(parsed->subtype, type.subtype);
}

}  // namespace

void EventPackageRegistry::add(EventPackage package) {
  for (auto& existing : packages_) {
    if (existing->name == package.name) {
      *existing = std::move(package);
      return;
    }
  }
  packages_.push_back(std::make_unique<EventPackage>(std::move(package)));
}

const EventPackage* EventPackageRegistry::find(std::string_view name) const {
  for (const auto& p : packages_) {
    if (p->name == name) return p.get();
  }
  return nullptr;
}

std::string EventPackageRegistry::allow_events() const {
  std::string out;
  for (const auto& p : packages_) {
    if (!out.empty()) out += ", ";
    out += p->name;
  }
  return out;
}

std::optional<std::string> negotiate_notify_type(const EventPackage& package,
                                                 const Message& subscribe) {
  const std::vector<std::string_view> ranges = subscribe.header_values("Accept");
  if (package.accept.empty()) return std::string();
  // RFC 3261 §20.1: no Accept header = the default type of the package.
  if (ranges.empty()) return package.accept.front();
  for (const std::string& offered : package.accept) {
    const auto type = parse_content_type(offered);
    if (!type) continue;
    for (std::string_view range : ranges) {
      if (range_admits(range, *type)) return offered;
    }
  }
  return std::nullopt;
}

}  // namespace chorus::sip
