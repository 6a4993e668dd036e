#pragma once
// ConfirmEngine::on_resolver_thread, for the engine's files that resolve names (a
// template, so its definition must be seen where it is used).
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "confirmer.h"

namespace stsd::confirm {

namespace detail {

template <class Result, class Function>
boost::asio::awaitable<Result> call_on_this_thread(Function function) {
  co_return function();
}

}  // namespace detail

template <class Result, class Function>
boost::asio::awaitable<Result> ConfirmEngine::on_resolver_thread(Function function) {
  // ldns blocks; its lookups run on the resolver threads and resume here afterwards.
  auto task = detail::call_on_this_thread<Result>(std::move(function));
  auto operation =
      boost::asio::co_spawn(resolver_threads_->get_executor(), std::move(task), boost::asio::use_awaitable);
  Result result = co_await std::move(operation);
  co_return result;
}

}  // namespace stsd::confirm
