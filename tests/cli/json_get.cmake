# Print members of a JSON document, one per line, using CMake's own JSON
# parser (so the CLI tests need neither python nor jq):
#   cmake -DFILE=doc.json -DKEYS="success;usage/input_tokens" -P json_get.cmake
# A key path uses / between levels.  Fails (non-zero exit) if the file is
# not JSON or a key is missing.
cmake_minimum_required(VERSION 3.19)
file(READ "${FILE}" doc)
string(JSON type ERROR_VARIABLE err TYPE "${doc}")
if(err)
  message(FATAL_ERROR "not JSON: ${err}")
endif()
foreach(key IN LISTS KEYS)
  string(REPLACE "/" ";" path "${key}")
  string(JSON value ERROR_VARIABLE err GET "${doc}" ${path})
  if(err)
    message(FATAL_ERROR "${key}: ${err}")
  endif()
  execute_process(COMMAND ${CMAKE_COMMAND} -E echo "${value}")
endforeach()
