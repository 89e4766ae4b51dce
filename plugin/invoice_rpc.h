#ifndef SIDEBOLT_PLUGIN_INVOICE_RPC_H
#define SIDEBOLT_PLUGIN_INVOICE_RPC_H

#include "node/invoice_store.h"
#include "rpc/server.h"

namespace sidebolt {

//! invoice, decode, listinvoices, waitinvoice, waitanyinvoice, delinvoice (Core Lightning's shapes).
void RegisterInvoiceRpcs(RpcServer& server, InvoiceService& invoices);

} // namespace sidebolt

#endif
