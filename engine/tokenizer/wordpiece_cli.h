/*
 * wordpiece_cli.h - `parley model tokenize`: tokenize a text with a model's
 * WordPiece vocabulary and print tokens, ids and offsets as JSON.
 *
 *   parley model tokenize [options] MODEL_DIR TEXT
 *   parley model tokenize --vocab FILE_OR_DIR [options] TEXT
 *
 * MODEL_DIR holds vocab.txt, or a config.json naming the vocabulary file
 * ("vocab_file" or "vocab", top level or inside a "tokenizer" object, path
 * relative to MODEL_DIR) and "do_lower_case" (default true). When the model
 * directory has no vocabulary, or no MODEL_DIR is given, --vocab names one
 * (a file, or a directory holding vocab.txt or a single *vocab*.txt, e.g.
 * ../shared/data/vocab). TEXT "-" reads standard input.
 *
 * Options: --vocab P, --cased / --uncased (override do_lower_case),
 *          --pair TEXT2 (sentence pair), --max-len N (longest-first
 *          truncation), --no-special (no [CLS]/[SEP]), -h/--help.
 *
 * Output (one line of JSON on stdout):
 *   {"vocab":"...","do_lower_case":true,"n_tokens":4,
 *    "tokens":["[CLS]","hello","##s","[SEP]"],"ids":[101,7592,2015,102],
 *    "type_ids":[0,0,0,0],"word_ids":[null,0,0,null],
 *    "char_offsets":[[0,0],[0,5],[5,6],[0,0]],"byte_offsets":[[0,0],[0,5],[5,6],[0,0]]}
 * Offsets are [start, end) into the original text (code points, bytes);
 * with --pair, tokens whose type_id is 1 point into TEXT2.
 */
#ifndef PL_WORDPIECE_CLI_H
#define PL_WORDPIECE_CLI_H

#ifdef __cplusplus
extern "C" {
#endif

/*
 * Run the command. argv[0] is the command's own name ("tokenize"), the rest
 * its arguments, as main() receives them. Prints the JSON result to stdout,
 * or a one-line error to stderr. Returns the process exit code: 0 success,
 * 1 failure (unreadable or invalid model/vocabulary, invalid UTF-8), 2 usage
 * error. Not thread-safe (writes stdout/stderr).
 */
int pl_cli_model_tokenize(int argc, char **argv);

#ifdef __cplusplus
}
#endif
#endif
