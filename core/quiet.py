"""Keep transformers' logging, warnings and progress bars off the terminal."""

import contextlib
import io
import warnings
from collections.abc import Iterator

__all__ = ["quiet_transformers"]


@contextlib.contextmanager
def quiet_transformers(capture_stderr: bool = False) -> Iterator[None]:
    """Silence transformers while a block runs (the CLI draws its own progress).

    `capture_stderr` also swallows bare writes to stderr (the GGUF reader's own tqdm).
    """
    from transformers.utils import logging as hf_logging

    verbosity = hf_logging.get_verbosity()
    bars = hf_logging.is_progress_bar_enabled()
    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    try:
        with warnings.catch_warnings(), contextlib.ExitStack() as stack:
            # Trainer itself still calls the renamed `is_gradient_checkpointing`
            warnings.filterwarnings("ignore", category=FutureWarning, module="transformers")
            if capture_stderr:
                stack.enter_context(contextlib.redirect_stderr(io.StringIO()))
            yield
    finally:
        hf_logging.set_verbosity(verbosity)
        if bars:
            hf_logging.enable_progress_bar()
