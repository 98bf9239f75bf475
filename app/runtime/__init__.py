"""Exercise time: the clock (pure) and, with the runtime issue, the engine process."""
