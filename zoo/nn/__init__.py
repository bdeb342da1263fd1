"""Shared layers for plugins: a BERT-style encoder with replaceable norms, attention masks, and the bridge
to Hugging Face BERT checkpoints (:mod:`zoo.nn.hf_bert`). Importing ``zoo.nn`` imports torch."""

from zoo.nn.bert import ACTIVATIONS, BertBlock, BertConfig, BertEmbeddings, BertEncoder, MLMHead, NormFactory
from zoo.nn.hf_bert import (
    ENCODER_SIZES,
    HFBert,
    export_hf_bert,
    hf_state_dict,
    init_from_hf_bert,
    load_bert_state,
    load_hf_bert,
    read_hf_bert,
)
from zoo.nn.masks import AttentionKind, attention_mask, unilm_mask

__all__ = [
    "ACTIVATIONS",
    "ENCODER_SIZES",
    "AttentionKind",
    "BertBlock",
    "BertConfig",
    "BertEmbeddings",
    "BertEncoder",
    "HFBert",
    "MLMHead",
    "NormFactory",
    "attention_mask",
    "export_hf_bert",
    "hf_state_dict",
    "init_from_hf_bert",
    "load_bert_state",
    "load_hf_bert",
    "read_hf_bert",
    "unilm_mask",
]
