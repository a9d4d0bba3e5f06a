import sys, runpy, torch
torch._C._set_graph_executor_optimize(False)
sys.argv = ["provider.py"] + sys.argv[1:]
runpy.run_path("provider.py", run_name="__main__")
