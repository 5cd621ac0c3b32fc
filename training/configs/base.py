# The shipped base model (public/models/c2l-base): shape and schedule chosen by measurement on 2 shared cores (README).
run_name = "base"
export_dir = "public/models/c2l-base"
export_dtype = "float16"
resume = "auto"  # `npm run train:base` again continues the run where its last checkpoint left it

# 9.4M parameters (6.3M outside the tied embedding), 19 MB in float16; GQA with 3 query heads per key/value head.
hidden_size = 384
intermediate_size = 1024
num_hidden_layers = 4
num_attention_heads = 6
num_key_value_heads = 2
tie_word_embeddings = True
block_size = 512  # assertion prompts need context; attention is ~15% of a step's flops at this length
batch_size = 16  # 8,192 tokens per step: ~4,000 steps in the budget at the throughput measured under load

autocast_dtype = "bfloat16"  # AMX bf16 matmuls: ~1.4 TFLOP/s vs ~0.18 for float32 on this CPU
num_threads = 2
learning_rate = 1.5e-3
min_lr = 1.5e-4
warmup_iters = 150
beta2 = 0.99  # small batches: a longer second-moment average
weight_decay = 0.1
grad_clip = 1.0

max_iters = 3000  # replaced at the end of warmup by what fits the time budget
time_budget_minutes = 110
eval_interval = 150  # about every 4-5 minutes at the throughput measured under load
eval_windows = 200  # 102,400 validation tokens, the same windows every time
checkpoint_interval = 150
log_interval = 10
