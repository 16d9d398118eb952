#include "signaling/usage/refer.hpp"

#include <memory>

#include "signaling/message/header_params.hpp"
#include "signaling/message/header_refer.hpp"
#include "signaling/usage/sipfrag.hpp"

namespace chorus::sip {
namespace {

constexpr std::string_view kReferEvent = "refer";

ReferOutcome reply(Message response) {
  ReferOutcome out;
  out.response = std::move(response);
  return out;
}

}  // namespace

std::optional<Message> check_refer(const Message& refer, std::string_view to_tag) {
  const std::vector<std::string_view> lines = refer.header_lines("Refer-To");
  if (lines.empty()) return make_response(refer, 400, "Missing Refer-To", to_tag);
  if (lines.size() > 1) return make_response(refer, 400, "Multiple Refer-To", to_tag);
  // Refer-To is not a list header, but "<a>, <b>" on one line is still two
  // targets (a top-level comma outside <> and quotes).
  const auto elements = split_comma_list(lines.front());
  if (elements && elements->size() > 1) {
    return make_response(refer, 400, "Multiple Refer-To", to_tag);
  }
  if (!parse_refer_to(lines.front())) return make_response(refer, 400, "Bad Refer-To", to_tag);
  return std::nullopt;
}

bool refer_declines_subscription(const Message& refer) {
  const auto value = refer.header("Refer-Sub");
  return value && iequals(trim(value->substr(0, value->find(';'))), "false");
}

ReferOutcome accept_refer(DialogSet& dialogs, const Message& refer, DialogRandom& random,
                          std::string_view local_contact, TimePoint now,
                          const ReferConfig& config) {
  const DialogSet::RequestMatch match = dialogs.match_request(refer);
  if (match.reject) return reply(*match.reject);
  if (match.dialog) {
    if (auto error = match.dialog->check_request(refer)) return reply(std::move(*error));
    return accept_refer(*match.dialog, refer, now, config);
  }

  const std::string tag = random.tag();
  if (auto error = check_refer(refer, tag)) return reply(std::move(*error));

  ReferOutcome out;
  out.response = make_response(refer, 202, {}, tag);
  out.response.set_header("Contact", local_contact);
  out.accepted = true;
  out.refer_to = std::string(*refer.header("Refer-To"));
  if (refer_declines_subscription(refer)) {
    // RFC 4488 §4: no implicit subscription; we keep no dialog for it.
    out.response.set_header("Refer-Sub", "false");
    return out;
  }
  auto created = Dialog::create_uas(refer, out.response, random.initial_cseq());
  if (!created) return reply(make_response(refer, 400, "Missing Contact", tag));
  created->set_local_contact(std::string(local_contact));
  Dialog& dialog = dialogs.insert(std::move(*created));
  ReferOutcome in_dialog = accept_refer(dialog, refer, now, config);
  in_dialog.response = std::move(out.response);
  return in_dialog;
}

ReferOutcome accept_refer(Dialog& dialog, const Message& refer, TimePoint now,
                          const ReferConfig& config) {
  if (auto error = check_refer(refer, dialog.id().local_tag)) return reply(std::move(*error));
  ReferOutcome out;
  out.response = dialog.make_response(refer, 202);
  out.accepted = true;
  out.refer_to = std::string(*refer.header("Refer-To"));
  out.dialog = &dialog;
  if (refer_declines_subscription(refer)) {
    out.response.set_header("Refer-Sub", "false");
    return out;
  }
  // RFC 3515 §2.4.6: the subscription is named by the REFER's CSeq number.
  auto usage = std::make_unique<Subscription>(
      std::string(kReferEvent), std::to_string(refer.cseq().number),
      std::string(kSipfragContentType), config.subscription_expires, now);
  Subscription& sub = static_cast<Subscription&>(dialog.add_usage(std::move(usage)));
  out.subscription = &sub;
  // §2.4.4: the first NOTIFY follows the 202 at once, reporting 100 Trying.
  out.notify = make_refer_notify(dialog, sub, 100, "Trying", now);
  return out;
}

Message make_refer_notify(Dialog& dialog, Subscription& subscription, int status,
                          std::string_view reason, TimePoint now,
                          std::span<const std::pair<std::string, std::string>> headers) {
  const NotifyBody body{std::string(kSipfragContentType), make_sipfrag(status, reason, headers)};
  if (status >= 200) {
    // §2.4.5: the final NOTIFY ends the subscription; RFC 3515 §2.4.7 and
    // RFC 6665 §4.2.2 name the reason "noresource".
    return subscription.make_final_notify(dialog, "noresource", body);
  }
  return subscription.make_notify(dialog, now, body);
}

}  // namespace chorus::sip
