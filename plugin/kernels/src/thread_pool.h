// The built-in executor used when the host passes none: persistent workers,
// task 0 on the calling thread, task i on worker i (static, no work stealing).
#pragma once
#include "sparsebytenn/gsparse.h"

namespace sbnn {
void default_parallel_for(void* unused, int32_t num_tasks, sbnn_task_fn task, void* task_ctx);
}
