#include "server/udp_uring.h"

#include <liburing.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <thread>

#include "logging.h"
#include "server/burst_pacing.h"

namespace stsd {
namespace {

// What a completion is for: the top byte of its user data says which request.
enum class Request : uint64_t { Receive = 1, Send = 2, Wake = 3 };
constexpr int kRequestShift = 56;
uint64_t user_data(Request request) { return static_cast<uint64_t>(request) << kRequestShift; }
Request request_of(uint64_t data) { return static_cast<Request>(data >> kRequestShift); }

// io_uring_enable_rings(), which Debian 12's liburing 2.3 declares but does not export.
int enable_ring(const io_uring& ring) {
  return static_cast<int>(::syscall(__NR_io_uring_register, ring.ring_fd, IORING_REGISTER_ENABLE_RINGS, nullptr, 0));
}

// Receive buffers: one page each (a buffer that a datagram reaches costs one resident
// page). A buffer holds io_uring's header, the peer's address, the PKTINFO control data
// and the payload, so queries up to kPayloadCapacity octets (about 4,000) are read
// whole; a longer one arrives truncated and is dropped (no DNS client sends one).
// kBuffers bounds the datagrams one burst can take; when all are in use the receive
// stops (ENOBUFS) and is re-armed once the burst's buffers are back: the datagrams wait
// in the socket's queue meanwhile, none is lost.
constexpr unsigned kBuffers = 256;
constexpr size_t kBufferSize = 4096;
constexpr uint16_t kBufferGroup = 0;
// Large enough for sockaddr_in6 and a multiple of 8, so that the control data after it
// stays aligned for cmsghdr.
constexpr socklen_t kNameCapacity = 32;
// Sends: one slot per answer of a burst. A send is tried at once when submitted
// (MSG_DONTWAIT: a full send buffer fails it instead of parking it), so once the
// burst's io_uring_enter has consumed every entry the slots are free again, and a send
// that succeeds posts no completion (IOSQE_CQE_SKIP_SUCCESS): the burst's answers cost
// no wake-up of their own.
constexpr unsigned kSendSlots = kBuffers;
constexpr unsigned kSubmissionEntries = 2 * kBuffers;
constexpr unsigned kCompletionEntries = 4 * kBuffers;

struct SendSlot {
  msghdr message;
  iovec iov;
  sockaddr_in6 peer;
  alignas(cmsghdr) uint8_t control[kUdpControlCapacity];
  uint8_t answer[kUdpAnswerCapacity];
};

}  // namespace

struct UdpUring::State {
  int fd = -1;
  int wake_fd = -1;
  io_uring ring{};
  bool ring_ready = false;
  io_uring_buf_ring* buffer_ring = nullptr;
  size_t buffer_ring_bytes = 0;
  uint8_t* buffers = nullptr;
  // The receive request's template: how much room its header gives the peer's address
  // and the control data (msg_name/msg_control stay null: the buffer ring supplies them).
  msghdr receive_template{};
  // Mapped, not a vector: a slot's pages become resident when a burst first reaches it
  // (a vector zeroed all 1 MiB of a socket's slots at start, most never used).
  SendSlot* slots = nullptr;
  unsigned slots_used = 0;
  unsigned burst_datagrams = 1;
  __kernel_timespec burst_wait{};
  BurstPacing pacing{1, false};
  uint64_t wake_counter = 0;

  ~State() {
    if (ring_ready) io_uring_queue_exit(&ring);
    if (buffer_ring) munmap(buffer_ring, buffer_ring_bytes);
    if (buffers) munmap(buffers, size_t{kBuffers} * kBufferSize);
    if (slots) munmap(slots, sizeof(SendSlot) * kSendSlots);
    if (wake_fd >= 0) ::close(wake_fd);
  }

  uint8_t* buffer(unsigned id) const { return buffers + size_t{id} * kBufferSize; }

  // Queues buffer `id` as the `nth` one handed back since the last
  // io_uring_buf_ring_advance(), which makes them visible to the kernel together.
  void give_back(unsigned id, unsigned nth) {
    io_uring_buf_ring_add(buffer_ring, buffer(id), kBufferSize, static_cast<unsigned short>(id),
                          io_uring_buf_ring_mask(kBuffers), static_cast<int>(nth));
  }

  // A free submission entry; submits what is queued when the queue is full (at most
  // once per kSubmissionEntries requests: a burst has fewer).
  io_uring_sqe* next_entry() {
    io_uring_sqe* sqe = io_uring_get_sqe(&ring);
    if (!sqe) {
      io_uring_submit(&ring);
      sqe = io_uring_get_sqe(&ring);
    }
    return sqe;
  }

  void arm_receive() {
    io_uring_sqe* sqe = next_entry();
    if (!sqe) return;  // the next burst retries
    io_uring_prep_recvmsg_multishot(sqe, fd, &receive_template, 0);
    sqe->flags |= IOSQE_BUFFER_SELECT;
    sqe->buf_group = kBufferGroup;
    io_uring_sqe_set_data64(sqe, user_data(Request::Receive));
  }

  void arm_wake() {
    io_uring_sqe* sqe = next_entry();
    if (!sqe) return;
    io_uring_prep_read(sqe, wake_fd, &wake_counter, sizeof wake_counter, 0);
    io_uring_sqe_set_data64(sqe, user_data(Request::Wake));
  }

  // Submits what the last burst queued and sleeps until the next datagrams are in: the
  // first of them, or while bursts fill (burst_pacing.h) udp.burst_datagrams N of them or
  // udp.burst_wait_us after the wait began, whichever comes first (the kernel wakes the
  // thread only then: fewer wake-ups of this thread, and larger bursts of answers, so
  // fewer of the clients'). A wait that ends with nothing in sleeps on until the first
  // datagram: idle costs nothing.
  int submit_and_wait() {
    io_uring_cqe* first = nullptr;
    if (pacing.wait_for_burst()) {
      const int r = io_uring_submit_and_wait_timeout(&ring, &first, burst_datagrams, &burst_wait, nullptr);
      const unsigned ready = io_uring_cq_ready(&ring);
      pacing.burst_wait_ended(ready);
      if (r != -ETIME || ready > 0) return r;
    }
    return io_uring_submit_and_wait_timeout(&ring, &first, 1, nullptr, nullptr);
  }

  void answer_datagram(UdpAnswerer& answerer, const Chain& chain, const io_uring_cqe& cqe);
  void answer_burst(UdpAnswerer& answerer);
};

std::unique_ptr<UdpUring> UdpUring::open(int fd, bool wildcard_address, const ListenerSettings& settings,
                                         std::string& why_not) {
  auto state = std::make_unique<State>();
  state->fd = fd;
  state->burst_datagrams = settings.udp_burst_datagrams;
  state->burst_wait.tv_sec = settings.udp_burst_wait.count() / 1000000;
  state->burst_wait.tv_nsec = settings.udp_burst_wait.count() % 1000000 * 1000;
  state->pacing = BurstPacing(settings.udp_burst_datagrams, settings.udp_burst_wait.count() > 0);
  io_uring_params params{};
  // SINGLE_ISSUER + DEFER_TASKRUN (Linux 6.1): completions are run only when the socket's
  // thread enters the kernel to wait, never by interrupting it; R_DISABLED lets that
  // thread, not this one, become the ring's submitter.
  params.flags =
      IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN | IORING_SETUP_R_DISABLED | IORING_SETUP_CQSIZE;
  params.cq_entries = kCompletionEntries;
  if (const int r = io_uring_queue_init_params(kSubmissionEntries, &state->ring, &params); r < 0) {
    why_not = std::string("io_uring_setup: ") + std::strerror(-r);
    return nullptr;
  }
  state->ring_ready = true;
  state->buffers = static_cast<uint8_t*>(
      mmap(nullptr, size_t{kBuffers} * kBufferSize, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0));
  void* slot_memory =
      mmap(nullptr, sizeof(SendSlot) * kSendSlots, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  state->slots = slot_memory == MAP_FAILED ? nullptr : static_cast<SendSlot*>(slot_memory);
  state->buffer_ring_bytes = kBuffers * sizeof(io_uring_buf);
  void* ring_memory =
      mmap(nullptr, state->buffer_ring_bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (state->buffers == MAP_FAILED || ring_memory == MAP_FAILED || !state->slots) {
    if (state->buffers == MAP_FAILED) state->buffers = nullptr;
    if (ring_memory != MAP_FAILED) munmap(ring_memory, state->buffer_ring_bytes);
    why_not = "no memory for the receive buffers";
    return nullptr;
  }
  state->buffer_ring = static_cast<io_uring_buf_ring*>(ring_memory);
  io_uring_buf_reg registration{};
  registration.ring_addr = reinterpret_cast<uint64_t>(ring_memory);
  registration.ring_entries = kBuffers;
  registration.bgid = kBufferGroup;
  if (const int r = io_uring_register_buf_ring(&state->ring, &registration, 0); r < 0) {
    why_not = std::string("io_uring buffer ring: ") + std::strerror(-r);
    return nullptr;
  }
  io_uring_buf_ring_init(state->buffer_ring);
  for (unsigned id = 0; id < kBuffers; ++id) state->give_back(id, id);
  io_uring_buf_ring_advance(state->buffer_ring, kBuffers);
  state->wake_fd = eventfd(0, EFD_CLOEXEC);
  if (state->wake_fd < 0) {
    why_not = std::string("eventfd: ") + std::strerror(errno);
    return nullptr;
  }
  state->receive_template.msg_namelen = kNameCapacity;
  state->receive_template.msg_controllen = wildcard_address ? kUdpControlCapacity : 0;
  return std::unique_ptr<UdpUring>(new UdpUring(std::move(state)));
}

UdpUring::UdpUring(std::unique_ptr<State> state) : state_(std::move(state)) {}
UdpUring::~UdpUring() = default;

void UdpUring::wake() {
  const uint64_t one = 1;
  [[maybe_unused]] const auto written = ::write(state_->wake_fd, &one, sizeof one);
}

// Each round: answer every completion waiting, then one io_uring_enter submits the
// answers (sendmsg is tried at once, MSG_DONTWAIT: a full send buffer fails it rather
// than parking it) and sleeps until the next datagram's completion.
void UdpUring::serve(UdpAnswerer& answerer, const std::atomic<bool>& stopping) {
  State& s = *state_;
  if (enable_ring(s.ring) != 0) {
    log::f(log::Level::Error, "udp: cannot enable io_uring on this thread: %s", std::strerror(errno));
    return;
  }
  io_uring_register_ring_fd(&s.ring);  // saves a descriptor lookup per call; optional
  s.arm_wake();
  s.arm_receive();
  while (!stopping.load(std::memory_order_relaxed)) {
    const int r = s.submit_and_wait();
    if (r < 0 && r != -EINTR && r != -ETIME && r != -EAGAIN && r != -EBUSY) {
      log::f(log::Level::Error, "udp: io_uring_enter failed: %s", std::strerror(-r));
      return;
    }
    s.answer_burst(answerer);
  }
}

void UdpUring::State::answer_burst(UdpAnswerer& answerer) {
  // Entries the last io_uring_enter left unconsumed (it stops early only when the
  // kernel is short of memory) still point at their slots.
  while (io_uring_sq_ready(&ring) > 0 && io_uring_submit(&ring) > 0) {}
  slots_used = 0;
  const Chain& chain = answerer.chain_for_burst();  // a reload applies here
  unsigned head = 0;
  unsigned seen = 0;
  unsigned returned = 0;
  bool rearm = false;
  bool failed = false;
  io_uring_cqe* cqe = nullptr;
  io_uring_for_each_cqe(&ring, head, cqe) {
    ++seen;
    switch (request_of(cqe->user_data)) {
      case Request::Receive:
        if (cqe->flags & IORING_CQE_F_BUFFER) {
          answer_datagram(answerer, chain, *cqe);
          give_back(cqe->flags >> IORING_CQE_BUFFER_SHIFT, returned++);
        }
        // Without F_MORE the receive has ended (ENOBUFS when every buffer was in use,
        // or an error): re-armed below, once the buffers are back.
        if (!(cqe->flags & IORING_CQE_F_MORE)) {
          rearm = true;
          failed = cqe->res < 0 && cqe->res != -ENOBUFS;
        }
        break;
      case Request::Send:
        break;  // failed (e.g. EAGAIN, EPERM): dropped, as a lost datagram would be
      case Request::Wake:
        break;  // serve() looks at the flag
    }
  }
  io_uring_cq_advance(&ring, seen);
  if (returned) io_uring_buf_ring_advance(buffer_ring, static_cast<int>(returned));
  if (failed) {
    // An unexpected failure (e.g. ENOMEM) must not turn the loop into a busy spin.
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  if (rearm) arm_receive();
}

void UdpUring::State::answer_datagram(UdpAnswerer& answerer, const Chain& chain, const io_uring_cqe& cqe) {
  if (cqe.res < 0) return;
  uint8_t* buf = buffer(cqe.flags >> IORING_CQE_BUFFER_SHIFT);
  auto* received = io_uring_recvmsg_validate(buf, cqe.res, &receive_template);
  if (!received || (received->flags & MSG_TRUNC) || received->namelen > sizeof(sockaddr_in6)) return;
  if (slots_used == kSendSlots) return;
  const auto* payload = static_cast<const uint8_t*>(io_uring_recvmsg_payload(received, &receive_template));
  const size_t length = io_uring_recvmsg_payload_length(received, cqe.res, &receive_template);
  SendSlot& slot = slots[slots_used];
  std::memcpy(&slot.peer, io_uring_recvmsg_name(received), received->namelen);
  const auto response = answerer.answer(chain, {payload, length}, reinterpret_cast<const sockaddr&>(slot.peer));
  if (response.empty()) return;
  std::memcpy(slot.answer, response.data(), response.size());
  slot.iov = {slot.answer, response.size()};
  slot.message = {};
  slot.message.msg_name = &slot.peer;
  slot.message.msg_namelen = received->namelen;
  slot.message.msg_iov = &slot.iov;
  slot.message.msg_iovlen = 1;
  if (receive_template.msg_controllen) {
    msghdr query{};
    query.msg_control = reinterpret_cast<uint8_t*>(io_uring_recvmsg_name(received)) + receive_template.msg_namelen;
    query.msg_controllen = received->controllen;
    slot.message.msg_controllen = answer_source(query, slot.control);
    slot.message.msg_control = slot.message.msg_controllen ? slot.control : nullptr;
  }
  io_uring_sqe* sqe = next_entry();
  if (!sqe) return;
  io_uring_prep_sendmsg(sqe, fd, &slot.message, MSG_DONTWAIT);
  sqe->flags |= IOSQE_CQE_SKIP_SUCCESS;
  io_uring_sqe_set_data64(sqe, user_data(Request::Send));
  ++slots_used;
}

}  // namespace stsd
