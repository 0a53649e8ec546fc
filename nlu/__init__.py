"""Language-aware NLU for the assistant: text normalisation, language
identification and the emergency safety net, plus the Rasa components that
put them into the pipeline (`nlu.components`).

Everything except `nlu.components` is plain Python and does not import Rasa,
so the channels and tests can use it too.
"""
