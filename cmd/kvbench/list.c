/* kvbench list: models, cache methods, tasks. (Filled in as modules land.) */
#include <stdio.h>

#include "options.h"
#include "verbs.h"

int cmd_list(int argc, char **argv)
{
    const struct kvb_option opts[] = { KVB_OPT_END_ };
    int rc = kvb_parse_options(argc, argv, opts, "kvbench list", NULL, NULL);
    if (rc)
        return rc > 0 ? 0 : 2;
    return 0;
}
