/*
 * osptk-harness: a small OSP client built on the TransNexus OSP Toolkit's
 * public API (osp/osp.h), so that the e2e interop suite can drive qoslab's
 * clearinghouse with an implementation nobody here wrote. It is test code
 * of qoslab, not part of the toolkit: it only calls the toolkit's API.
 *
 * Usage (every option is --name value):
 *
 *   osptk-harness source      --sp URL --ca CA.pem --cert C.pem --key K.pem
 *                             --calling N --called N --callid ID
 *                             [--maxdest N] [--token-out FILE]
 *                             [--duration-ms N] [--pdd-ms N] [--release source|destination]
 *                             [--reauth] [--no-usage]
 *   osptk-harness destination --sp URL --ca --cert --key --calling --called --callid
 *                             --token FILE --source-addr [ip]:port --dest-addr [ip]:port
 *                             [--duration-ms N] [--release source|destination]
 *   osptk-harness caps        --sp URL --ca --cert --key --source-addr [ip]:port
 *
 * It prints one "key=value" line per result (return codes of the toolkit
 * calls, destinations, time limits) and exits 0 when it could run the
 * steps, whatever the toolkit answered: the Go test judges the values.
 * It exits 2 on a usage error.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "osp/osp.h"
#include "osp/ospb64.h"
#include "osp/osputils.h"
#include "osp/ospcallid.h"

#define MAX_TOKEN 16384
#define MAX_DESTS 8

struct opts {
    const char *mode, *sp, *ca, *cert, *key, *calling, *called, *callid;
    const char *token_out, *token, *source_addr, *dest_addr, *release;
    unsigned maxdest, duration_ms, pdd_ms;
    int reauth, no_usage;
};

static void usage(void)
{
    fprintf(stderr, "usage: osptk-harness source|destination|caps --sp URL --ca F --cert F --key F ...\n");
    exit(2);
}

static void parse(int argc, char **argv, struct opts *o)
{
    int i;

    memset(o, 0, sizeof(*o));
    o->maxdest = 1;
    o->duration_ms = 5000;
    o->pdd_ms = 0;
    o->release = "source";
    if (argc < 2) {
        usage();
    }
    o->mode = argv[1];
    for (i = 2; i < argc; i++) {
        const char *k = argv[i];
        const char *v = (i + 1 < argc) ? argv[i + 1] : NULL;
        if (strcmp(k, "--reauth") == 0) { o->reauth = 1; continue; }
        if (strcmp(k, "--no-usage") == 0) { o->no_usage = 1; continue; }
        if (v == NULL) {
            usage();
        }
        i++;
        if (strcmp(k, "--sp") == 0) o->sp = v;
        else if (strcmp(k, "--ca") == 0) o->ca = v;
        else if (strcmp(k, "--cert") == 0) o->cert = v;
        else if (strcmp(k, "--key") == 0) o->key = v;
        else if (strcmp(k, "--calling") == 0) o->calling = v;
        else if (strcmp(k, "--called") == 0) o->called = v;
        else if (strcmp(k, "--callid") == 0) o->callid = v;
        else if (strcmp(k, "--maxdest") == 0) o->maxdest = (unsigned)atoi(v);
        else if (strcmp(k, "--token-out") == 0) o->token_out = v;
        else if (strcmp(k, "--token") == 0) o->token = v;
        else if (strcmp(k, "--source-addr") == 0) o->source_addr = v;
        else if (strcmp(k, "--dest-addr") == 0) o->dest_addr = v;
        else if (strcmp(k, "--duration-ms") == 0) o->duration_ms = (unsigned)atoi(v);
        else if (strcmp(k, "--pdd-ms") == 0) o->pdd_ms = (unsigned)atoi(v);
        else if (strcmp(k, "--release") == 0) o->release = v;
        else usage();
    }
    if (o->sp == NULL || o->ca == NULL || o->cert == NULL || o->key == NULL) {
        usage();
    }
}

/* provider loads the lab PKI (PEM files, RSA key) with the toolkit's own
 * loaders and creates a provider for one service point, local token
 * validation on. */
static int provider(const struct opts *o, OSPTPROVHANDLE *prov)
{
    OSPTPRIVATEKEY key;
    OSPT_CERT local, ca;
    const OSPT_CERT *cas[1];
    const char *sps[1];
    unsigned long counts[1] = { 0 };
    int rc;

    memset(&key, 0, sizeof(key));
    memset(&local, 0, sizeof(local));
    memset(&ca, 0, sizeof(ca));
    rc = OSPPUtilLoadPEMPrivateKey((unsigned char *)o->key, &key);
    printf("load_key_rc=%d\n", rc);
    if (rc != OSPC_ERR_NO_ERROR) {
        return rc;
    }
    rc = OSPPUtilLoadPEMCert((unsigned char *)o->cert, &local);
    printf("load_cert_rc=%d\n", rc);
    if (rc != OSPC_ERR_NO_ERROR) {
        return rc;
    }
    rc = OSPPUtilLoadPEMCert((unsigned char *)o->ca, &ca);
    printf("load_ca_rc=%d\n", rc);
    if (rc != OSPC_ERR_NO_ERROR) {
        return rc;
    }
    cas[0] = &ca;
    sps[0] = o->sp;
    rc = OSPPProviderNew(1, sps, counts, "", &key, &local, 1, cas,
        1,              /* local validation */
        300,            /* SSL lifetime, s */
        4,              /* HTTP max connections */
        60000,          /* HTTP persistence, ms */
        0,              /* HTTP retry delay, s */
        1,              /* HTTP retry limit */
        5000,           /* HTTP timeout, ms */
        "", "", prov);
    printf("provider_rc=%d\n", rc);
    return rc;
}

static OSPE_RELEASE release_of(const char *s)
{
    return strcmp(s, "destination") == 0 ? OSPC_RELEASE_DESTINATION : OSPC_RELEASE_SOURCE;
}

static int report_usage(OSPTTRANHANDLE tx, const struct opts *o)
{
    time_t end = time(NULL);
    time_t start = end - (time_t)(o->duration_ms / 1000) - 1;
    unsigned logsize = 0;
    int rc;

    rc = OSPPTransactionReportUsage(tx, o->duration_ms, start, end, start, start + 1,
        o->pdd_ms > 0 ? OSPC_TRUE : OSPC_FALSE, o->pdd_ms, release_of(o->release),
        NULL, -1, -1, -1, -1, &logsize, NULL);
    printf("usage_rc=%d\n", rc);
    return rc;
}

static int run_source(const struct opts *o, OSPTTRANHANDLE tx)
{
    OSPT_CALL_ID *ids[1];
    const char *preferred[1] = { NULL };
    unsigned ndest = o->maxdest, logsize = 0, i;
    int rc;

    if (o->calling == NULL || o->called == NULL || o->callid == NULL) {
        usage();
    }
    ids[0] = OSPPCallIdNew((unsigned)strlen(o->callid), (const unsigned char *)o->callid);
    rc = OSPPTransactionRequestAuthorisation(tx, o->source_addr ? o->source_addr : "", "",
        o->calling, OSPC_NFORMAT_SIP, o->called, OSPC_NFORMAT_SIP, "", 1, ids, preferred,
        &ndest, &logsize, NULL);
    printf("auth_rc=%d\n", rc);
    printf("destinations=%u\n", ndest);
    if (rc != OSPC_ERR_NO_ERROR) {
        return 0;
    }
    for (i = 0; i < ndest && i < MAX_DESTS; i++) {
        char after[100] = "", until[100] = "", called[512] = "", calling[512] = "";
        char dest[512] = "", device[512] = "";
        unsigned char callid[512], token[MAX_TOKEN];
        unsigned callidsize = sizeof(callid), tokensize = sizeof(token), limit = 0;

        if (i == 0) {
            rc = OSPPTransactionGetFirstDestination(tx, sizeof(after), after, until, &limit,
                &callidsize, callid, sizeof(called), called, sizeof(calling), calling,
                sizeof(dest), dest, sizeof(device), device, &tokensize, token);
        } else {
            rc = OSPPTransactionGetNextDestination(tx, OSPC_FAIL_NONE, sizeof(after), after, until, &limit,
                &callidsize, callid, sizeof(called), called, sizeof(calling), calling,
                sizeof(dest), dest, sizeof(device), device, &tokensize, token);
        }
        printf("dest%u_rc=%d\n", i, rc);
        if (rc != OSPC_ERR_NO_ERROR) {
            return 0;
        }
        printf("dest%u_address=%s\n", i, dest);
        printf("dest%u_called=%s\n", i, called);
        printf("dest%u_calling=%s\n", i, calling);
        printf("dest%u_timelimit=%u\n", i, limit);
        printf("dest%u_callid=%.*s\n", i, (int)callidsize, callid);
        printf("dest%u_token_size=%u\n", i, tokensize);
        if (i == 0 && o->token_out != NULL) {
            FILE *f = fopen(o->token_out, "wb");
            if (f == NULL || fwrite(token, 1, tokensize, f) != tokensize || fclose(f) != 0) {
                perror(o->token_out);
                exit(1);
            }
        }
    }
    if (o->reauth) {
        unsigned char token[MAX_TOKEN];
        unsigned tokensize = sizeof(token), authorised = 0, limit = 0;
        logsize = 0;
        rc = OSPPTransactionRequestReauthorisation(tx, 1, &tokensize, token, &authorised, &limit, &logsize, NULL);
        printf("reauth_rc=%d\n", rc);
        printf("reauth_authorised=%u\n", authorised);
    }
    if (!o->no_usage) {
        report_usage(tx, o);
    }
    return 0;
}

static int run_destination(const struct opts *o, OSPTTRANHANDLE tx)
{
    unsigned char token[MAX_TOKEN];
    unsigned tokensize, authorised = 0, limit = 0, logsize = 0;
    FILE *f;
    int rc;

    if (o->calling == NULL || o->called == NULL || o->callid == NULL || o->token == NULL ||
        o->source_addr == NULL || o->dest_addr == NULL) {
        usage();
    }
    f = fopen(o->token, "rb");
    if (f == NULL) {
        perror(o->token);
        exit(1);
    }
    tokensize = (unsigned)fread(token, 1, sizeof(token), f);
    fclose(f);
    rc = OSPPTransactionValidateAuthorisation(tx, o->source_addr, o->dest_addr, NULL, NULL,
        o->calling, OSPC_NFORMAT_SIP, o->called, OSPC_NFORMAT_SIP,
        (unsigned)strlen(o->callid), o->callid, tokensize, token,
        &authorised, &limit, &logsize, NULL, TOKEN_ALGO_SIGNED);
    printf("validate_rc=%d\n", rc);
    printf("authorised=%u\n", authorised);
    printf("timelimit=%u\n", limit);
    if (rc == OSPC_ERR_NO_ERROR && authorised && !o->no_usage) {
        report_usage(tx, o);
    }
    return 0;
}

static int run_caps(const struct opts *o, OSPTTRANHANDLE tx)
{
    unsigned logsize = 0;
    int rc;

    rc = OSPPTransactionIndicateCapabilities(tx, o->source_addr ? o->source_addr : "", "", NULL, 0, &logsize, NULL);
    printf("caps_rc=%d\n", rc);
    return 0;
}

int main(int argc, char **argv)
{
    struct opts o;
    OSPTPROVHANDLE prov = 0;
    OSPTTRANHANDLE tx = 0;
    int rc;

    setvbuf(stdout, NULL, _IOLBF, 0);
    parse(argc, argv, &o);
    rc = OSPPInit(OSPC_FALSE);
    printf("init_rc=%d\n", rc);
    if (rc != OSPC_ERR_NO_ERROR || provider(&o, &prov) != OSPC_ERR_NO_ERROR) {
        return 0;
    }
    rc = OSPPTransactionNew(prov, &tx);
    printf("transaction_rc=%d\n", rc);
    if (rc == OSPC_ERR_NO_ERROR) {
        if (strcmp(o.mode, "source") == 0) {
            run_source(&o, tx);
        } else if (strcmp(o.mode, "destination") == 0) {
            run_destination(&o, tx);
        } else if (strcmp(o.mode, "caps") == 0) {
            run_caps(&o, tx);
        } else {
            usage();
        }
        OSPPTransactionDelete(tx);
    }
    OSPPProviderDelete(prov, 0);
    OSPPCleanup();
    printf("done=1\n");
    return 0;
}
