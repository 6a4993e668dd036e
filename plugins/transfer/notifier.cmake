# The NOTIFY sender (notifier.h): its own library, so the plugin and its tests link it
# alone. Included from this folder's CMakeLists.txt.
add_library(stsd_transfer_notifier STATIC
  notifier.cpp notifier_config.cpp notify_message.cpp notify_queue.cpp lag_tracker.cpp)
target_include_directories(stsd_transfer_notifier PUBLIC ${CMAKE_CURRENT_SOURCE_DIR})
target_link_libraries(stsd_transfer_notifier PUBLIC stsd_core PRIVATE stsd_warnings)

stsd_add_test(test_transfer_notifier
  SOURCES tests/notify_queue_test.cpp tests/token_bucket_test.cpp tests/lag_tracker_test.cpp tests/notifier_config_test.cpp
          tests/notifier_test.cpp tests/test_secondary.cpp tests/knot_interop_test.cpp tests/knot_secondary.cpp
  LIBS stsd_transfer_notifier)
