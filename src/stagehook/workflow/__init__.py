"""Pure workflow domain: stage graph, routing and the task state machine. No I/O."""
