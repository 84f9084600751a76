import sys; print("summary todo", sys.argv)
