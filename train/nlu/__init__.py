"""NLU recipes: masked-LM pretraining (pretrain), the fine-tuning recipes that share
finetune.py (joint_snips, ner_conll2003, punct_capit), evaluation through the service."""
