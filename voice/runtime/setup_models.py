"""Install-time step: assemble and verify the bundled Whisper model, warm the embedding index.

Run by ``make setup`` (``python -m voice.runtime.setup_models``); safe to run again (it returns at once when
everything is in place).
"""

from __future__ import annotations

import logging
import os
import sys

os.environ.setdefault("HAYSTACK_TELEMETRY_ENABLED", "False")


def main() -> int:
    logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stderr)
    from pipeline.answerer import FaqAnswerer, RetrievalOptions
    from voice.runtime.config import ConfigError, Settings
    from voice.stages.asr.model_cache import ModelCacheError, ensure_bundled_model

    try:
        settings = Settings.from_env()
        path = ensure_bundled_model(settings.model_dir)
    except (ConfigError, ModelCacheError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(f"Whisper base model ready in {path}", file=sys.stderr)
    FaqAnswerer(
        RetrievalOptions(
            prompts_dir=settings.prompts_dir, office_profile=settings.office_profile, cache_dir=settings.cache_dir
        )
    ).warm_up()
    print("FAQ index ready", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
