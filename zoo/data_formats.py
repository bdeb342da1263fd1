"""What ``--data`` takes, for the data sets the core reads (``zoo.datasets``): one line each, shown by
``zoo info NAME``, ``zoo train NAME --help`` and the readers' errors. Torch-free (plugins' hook modules
import it to register their recipes' ``data_format``)."""

from __future__ import annotations

__all__ = ["DUIE_JSON", "MNIST_IDX", "PTB_LM_TEXT", "SENTIMENT_BERT4KERAS", "SOGOU_QA_JSON"]

MNIST_IDX = (
    "a folder of MNIST's IDX files train-images-idx3-ubyte, train-labels-idx1-ubyte, t10k-images-idx3-ubyte "
    "and t10k-labels-idx1-ubyte (each may end in .gz; Fashion-MNIST's have the same names); the last "
    "10,000 training images validate; evaluation reads only the t10k-* pair"
)
SENTIMENT_BERT4KERAS = (
    "a folder of bert4keras sentiment files sentiment.train.data, sentiment.valid.data and "
    "sentiment.test.data (UTF-8 text<TAB>label lines, label 1 = positive, 0 = negative); evaluation reads "
    "only sentiment.test.data and also takes that one file"
)
PTB_LM_TEXT = (
    "a folder of language-model text ptb.train.txt, ptb.valid.txt and ptb.test.txt (Mikolov's "
    "simple-examples names; AWD-LSTM's train.txt, valid.txt, test.txt also work): one sentence per line, "
    "words separated by spaces, already lowercased with numbers as N and rare words as <unk>; evaluation "
    "reads only the test file and also takes that one file, or a file of Penn Treebank bracketed trees "
    "(.mrg files or one tree per line) to score the trees the model induces"
)
DUIE_JSON = (
    "a folder of DuIE / SKE relation-extraction files: train_data.json and dev_data.json (DuIE 2.0: "
    'duie_train.json, duie_dev.json) with one {"text", "spo_list": [{"subject", "predicate", "object", '
    "...}]} JSON object per line, and the schema all_50_schemas (or duie_schema.json) with one "
    '{"subject_type", "predicate", "object_type"} line per predicate; evaluation reads only the dev file '
    "and also takes any one file of such lines"
)
SOGOU_QA_JSON = (
    'a question-answering JSON file, either SogouQA / WebQA style (a list of {"id", "question", '
    '"passages": [{"passage", "answer"}]} records; answer "" = no answer in that passage, space-separated '
    'parts = one answer in several pieces) or SQuAD / CMRC 2018 style ({"data": [{"paragraphs": '
    '[{"context", "qas": [{"id", "question", "answers": [{"text", "answer_start"}]}]}]}]}, one passage per '
    'question); the format is detected from the top level (a list or an object with "data")'
)
