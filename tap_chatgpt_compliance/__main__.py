"""Run the tap with ``python -m tap_chatgpt_compliance``."""

from tap_chatgpt_compliance.tap import TapChatGPTCompliance

TapChatGPTCompliance.cli()
