# parley_runtime: the NATS RPC runtime (client calls and streams, worker framework,
# dynamic batcher, metrics registry, the HTTP side port and the services' start-up helper
# service.c). Headers: nrpc*.h, service.h.
set(pl_runtime_srcs "")
foreach(src nrpc.c nrpc_stream.c nrpc_frame.c nrpc_worker.c nrpc_worker_session.c nrpc_batcher.c nrpc_metrics.c nrpc_httpd.c service.c)
  if(EXISTS ${CMAKE_CURRENT_SOURCE_DIR}/${src})
    list(APPEND pl_runtime_srcs ${CMAKE_CURRENT_SOURCE_DIR}/${src})
  endif()
endforeach()
if(pl_runtime_srcs)
  add_library(parley_runtime STATIC ${pl_runtime_srcs})
  target_include_directories(parley_runtime PUBLIC ${CMAKE_CURRENT_SOURCE_DIR})
  target_link_libraries(parley_runtime PUBLIC parley_common PkgConfig::NATS Threads::Threads)
endif()
