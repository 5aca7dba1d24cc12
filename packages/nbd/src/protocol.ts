/**
 * The NBD protocol's numbers (NetworkBlockDevice's doc/proto.md), fixed newstyle only.
 * Every integer on the wire is big-endian.
 */

// --- handshake ---------------------------------------------------------------------------

export const NBDMAGIC = 0x4e42444d41474943n;
export const IHAVEOPT = 0x49484156454f5054n;
/** The magic of every option reply. */
export const REPLY_MAGIC = 0x3e889045565a9n;

/** Handshake flags, sent by the server. */
export const FLAG_FIXED_NEWSTYLE = 1;
export const FLAG_NO_ZEROES = 2;
/** Client flags. Any other bit makes the server drop the connection. */
export const CLIENT_FIXED_NEWSTYLE = 1;
export const CLIENT_NO_ZEROES = 2;
export const KNOWN_CLIENT_FLAGS = CLIENT_FIXED_NEWSTYLE | CLIENT_NO_ZEROES;

export const OPT_EXPORT_NAME = 1;
export const OPT_ABORT = 2;
export const OPT_LIST = 3;
export const OPT_STARTTLS = 5;
export const OPT_INFO = 6;
export const OPT_GO = 7;
export const OPT_STRUCTURED_REPLY = 8;
export const OPT_LIST_META_CONTEXT = 9;
export const OPT_SET_META_CONTEXT = 10;

export const REP_ACK = 1;
export const REP_SERVER = 2;
export const REP_INFO = 3;
export const REP_META_CONTEXT = 4;
/** Error replies have bit 31 set (written unsigned: `|` would make them negative). */
const REP_ERROR = 0x80000000;
export const REP_ERR_UNSUP = REP_ERROR + 1;
export const REP_ERR_POLICY = REP_ERROR + 2;
export const REP_ERR_INVALID = REP_ERROR + 3;
export const REP_ERR_PLATFORM = REP_ERROR + 4;
export const REP_ERR_TLS_REQD = REP_ERROR + 5;
export const REP_ERR_UNKNOWN = REP_ERROR + 6;
export const REP_ERR_SHUTDOWN = REP_ERROR + 7;
export const REP_ERR_BLOCK_SIZE_REQD = REP_ERROR + 8;
export const REP_ERR_TOO_BIG = REP_ERROR + 9;

export const INFO_EXPORT = 0;
export const INFO_NAME = 1;
export const INFO_DESCRIPTION = 2;
export const INFO_BLOCK_SIZE = 3;

/** The one metadata context served: which runs are holes and which read as zeros. */
export const BASE_ALLOCATION = 'base:allocation';
export const STATE_HOLE = 1;
export const STATE_ZERO = 2;

// --- transmission ------------------------------------------------------------------------

export const REQUEST_MAGIC = 0x25609513;
export const SIMPLE_REPLY_MAGIC = 0x67446698;
export const STRUCTURED_REPLY_MAGIC = 0x668e33ef;
/** A request header: magic, flags, type, cookie, offset, length. */
export const REQUEST_HEADER_SIZE = 28;
export const SIMPLE_REPLY_HEADER_SIZE = 16;
export const STRUCTURED_HEADER_SIZE = 20;

export const REPLY_FLAG_DONE = 1;
export const REPLY_TYPE_NONE = 0;
export const REPLY_TYPE_OFFSET_DATA = 1;
export const REPLY_TYPE_OFFSET_HOLE = 2;
export const REPLY_TYPE_BLOCK_STATUS = 5;
export const REPLY_TYPE_ERROR = 0x8001;

export const CMD_READ = 0;
export const CMD_WRITE = 1;
export const CMD_DISC = 2;
export const CMD_FLUSH = 3;
export const CMD_TRIM = 4;
export const CMD_CACHE = 5;
export const CMD_WRITE_ZEROES = 6;
export const CMD_BLOCK_STATUS = 7;

export const CMD_FLAG_FUA = 1;
export const CMD_FLAG_NO_HOLE = 2;
export const CMD_FLAG_DF = 4;
export const CMD_FLAG_REQ_ONE = 8;
export const CMD_FLAG_FAST_ZERO = 16;

export const TFLAG_HAS_FLAGS = 0x1;
export const TFLAG_READ_ONLY = 0x2;
export const TFLAG_SEND_FLUSH = 0x4;
export const TFLAG_SEND_FUA = 0x8;
export const TFLAG_SEND_TRIM = 0x20;
export const TFLAG_SEND_WRITE_ZEROES = 0x40;
export const TFLAG_SEND_DF = 0x80;
export const TFLAG_CAN_MULTI_CONN = 0x100;

/** Error values of replies (Linux errno numbers, as the protocol fixes them). */
export const NBD_EPERM = 1;
export const NBD_EIO = 5;
export const NBD_ENOMEM = 12;
export const NBD_EINVAL = 22;
export const NBD_ENOSPC = 28;
export const NBD_EOVERFLOW = 75;
export const NBD_ENOTSUP = 95;
export const NBD_ESHUTDOWN = 108;

/** Names for `--debug` lines and log messages. */
export const COMMAND_NAMES: Readonly<Record<number, string>> = {
  [CMD_READ]: 'READ',
  [CMD_WRITE]: 'WRITE',
  [CMD_DISC]: 'DISC',
  [CMD_FLUSH]: 'FLUSH',
  [CMD_TRIM]: 'TRIM',
  [CMD_CACHE]: 'CACHE',
  [CMD_WRITE_ZEROES]: 'WRITE_ZEROES',
  [CMD_BLOCK_STATUS]: 'BLOCK_STATUS',
};

export const ERROR_NAMES: Readonly<Record<number, string>> = {
  [NBD_EPERM]: 'EPERM',
  [NBD_EIO]: 'EIO',
  [NBD_ENOMEM]: 'ENOMEM',
  [NBD_EINVAL]: 'EINVAL',
  [NBD_ENOSPC]: 'ENOSPC',
  [NBD_EOVERFLOW]: 'EOVERFLOW',
  [NBD_ENOTSUP]: 'ENOTSUP',
  [NBD_ESHUTDOWN]: 'ESHUTDOWN',
};
