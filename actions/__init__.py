"""The action server (rasa-sdk): what the assistant says and does.

Modules, one concern each:
  settings   - thresholds and paths, from the environment, read once
  turn       - what the latest message means: topic, confidence, language
  knowledge  - the answers (data/knowledge + locales) and how they render
  replies    - buttons and shared reply pieces
  base       - the base action: language bookkeeping and the confidence gate
  conversation, answers, emergency, language, handoff - the actions
"""
