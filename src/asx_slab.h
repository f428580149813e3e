/* Memory for the Lua state of asx-host: small blocks cut from huge pages,
 * kept on free lists by size (the design is at the top of asx_slab.c).
 *
 * asx_slab_alloc has the shape of Lua's allocator function (lua_Alloc):
 * asx-host makes its state with lua_newstate(asx_slab_alloc, slab). Like
 * every lua_Alloc it relies on the caller passing each block's exact size
 * back (osize) when it resizes or frees it, which LuaJIT does.
 *
 * Ownership: the caller owns the slab and frees it with asx_slab_free once
 * nothing allocated from it is in use (after lua_close). Not thread-safe:
 * one Lua state's thread uses it. A large slab runs a thread of its own,
 * which faults in the pages it will cut next (asx_slab.c); asx_slab_free
 * ends it.
 */
#ifndef ASX_SLAB_H
#define ASX_SLAB_H

#include <stddef.h>

typedef struct asx_slab asx_slab;

/* An empty slab, or NULL when out of memory. */
asx_slab *asx_slab_new(void);

/* Frees the slab and every block it gave out. */
void asx_slab_free(asx_slab *slab);

/* As lua_Alloc, with ud the slab: nsize 0 frees ptr (of osize bytes) and
 * returns NULL; otherwise returns a block of nsize bytes, 8-byte aligned,
 * holding the first min(osize, nsize) bytes of ptr (freed), or NULL when
 * out of memory (then ptr is unchanged). ptr NULL allocates. */
void *asx_slab_alloc(void *ud, void *ptr, size_t osize, size_t nsize);

/* The bytes the slab holds from the system for small blocks (in use, on
 * its free lists, not yet cut, or mapped ahead of need). */
size_t asx_slab_reserved(const asx_slab *slab);

#endif
