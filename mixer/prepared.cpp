#include "mixer/prepared.hpp"

namespace chorus::mixer {

void PreparedDeleter::operator()(Prepared* prepared) const {
  delete prepared;
}

}  // namespace chorus::mixer
