/* Every verb has this signature; argv[0] is the verb name. */
#ifndef KVB_VERBS_H
#define KVB_VERBS_H

#ifndef KVB_VERSION
#define KVB_VERSION "0.1.0"
#endif
#ifndef KVB_GIT_COMMIT
#define KVB_GIT_COMMIT "unknown"
#endif

#define KVB_VERB(name) int cmd_##name(int argc, char **argv) __attribute__((weak))
KVB_VERB(bench);
KVB_VERB(diff);
KVB_VERB(eval);
KVB_VERB(gate);
KVB_VERB(generate);
KVB_VERB(info);
KVB_VERB(list);
KVB_VERB(merge);
KVB_VERB(report);
KVB_VERB(run);
KVB_VERB(tokenize);
#undef KVB_VERB

#endif
