// Uses the installed library: a memory store through Open, a put and a ranged get.
#include <cstdio>

#include "depot/object/open.h"

int main() {
  auto store = depot::object::Open("mem://");
  if (!store.ok()) return 1;
  auto put = (*store)->Put("k", depot::Bytes::Copy("installed"), {});
  if (!put.ok()) return 1;
  depot::object::GetOptions options;
  options.range = depot::ByteRange::From(2);
  auto got = (*store)->Get("k", options);
  if (!got.ok() || got->data.view() != "stalled") return 1;
  std::printf("consumer: OK\n");
  return 0;
}
