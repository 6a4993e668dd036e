#include "plugin.h"

namespace stsd {

void Next::operator()(Query& query) const {
  if (index_ < chain_->plugins_.size()) chain_->plugins_[index_]->serve(query, Next(chain_, index_ + 1));
}

void Chain::serve(Query& query) const {
  try {
    Next(this, 0)(query);
  } catch (...) {
    // Without the errors plugin an exception is still contained to its query.
    query.response.start(dns::Rcode::ServFail, false);
    if (query.more) query.more->reset();  // no rest to an answer that failed
  }
  query.response.finish();
}

}  // namespace stsd
