"""Article 7148 — "non-autoregressive" reading comprehension with a BERT MLM (kexue.fm/archives/7148).

Hook implementations only (no torch import here). Data readers and the generated multi-passage QA live in
``zoo_mlm_qa.data``, the SogouQA metric and the multi-passage vote in ``zoo_mlm_qa.metric``.
"""
