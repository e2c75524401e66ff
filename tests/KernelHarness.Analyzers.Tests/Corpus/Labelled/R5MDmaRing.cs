// A PCI-style NIC with a DMA descriptor ring: probe unwinds five resources with a goto ladder, rx buffers
// come from a private slab cache per slot. Holds a lock left held on an error return, a leak, a mismatched free, a double free.
using KernelHarness;
using static KernelHarness.Kernel;

namespace Corpus.Labelled.R5MDmaRing;

public struct ring_desc
{
    public ulong addr;
    public uint len;
    public uint flags;
}

public sealed class RingNic
{
    private const int RX_RING = 32;
    private const int DMA_ORDER = 2;
    private const ulong DESC_SIZE = 16;
    private const ulong PRIV_SIZE = 256;
    private const ulong STATS_SIZE = 8 * PAGE_SIZE;
    private const uint FW_MAGIC = 0x52354d31;

    private readonly spinlock_t tx_lock = new();
    private readonly mutex cfg_lock = new();
    private readonly tasklet_struct rx_tasklet = new();
    private readonly kptr[] rx_bufs = new kptr[RX_RING];
    private kmem_cache? desc_cache;
    private kptr priv = NULL;
    private kptr ring = NULL;
    private kptr stats = NULL;
    private kptr pending_ev = NULL;
    private page? dma_pages;
    private uint irq;
    private int hw_status;
    private int tx_head;
    private ulong rx_events;
    private uint coalesce_usecs;

    // Process context: five resources, released in reverse order of setup on each failure.
    public int probe(uint irq_line)
    {
        kmem_cache? cache;
        kptr p = NULL;
        kptr r = NULL;
        kptr st = NULL;
        page? pg = null;
        int err;

        irq = irq_line;
        cache = kmem_cache_create("r5m_ring_desc", DESC_SIZE, 8, SLAB_HWCACHE_ALIGN, null);
        if (cache is null)
            return -ENOMEM;
        p = kzalloc(PRIV_SIZE, GFP_KERNEL);
        if (p == NULL)
        {
            err = -ENOMEM;
            goto err_destroy_cache;
        }
        r = kcalloc(RX_RING, DESC_SIZE, GFP_KERNEL);
        if (r == NULL)
        {
            err = -ENOMEM;
            goto err_free_priv;
        }
        st = vzalloc(STATS_SIZE);
        if (st == NULL)
        {
            err = -ENOMEM;
            goto err_free_ring;
        }
        pg = alloc_pages(GFP_KERNEL | __GFP_ZERO, DMA_ORDER);
        if (pg == null)
        {
            err = -ENOMEM;
            goto err_free_stats;
        }
        memset(r, 0, RX_RING * DESC_SIZE); // ok: r was tested against NULL on every path that reaches here

        desc_cache = cache;
        priv = p;
        ring = r;
        stats = st;
        dma_pages = pg;
        tasklet_setup(rx_tasklet, rx_poll);

        err = setup_rx_buffers();
        if (err != 0)
            goto err_clear;
        err = request_irq(irq, ring_isr, IRQF_SHARED, "r5m_ring", this);
        if (err != 0)
            goto err_free_bufs;
        return 0;

    err_free_bufs:
        free_rx_buffers();
    err_clear:
        desc_cache = null;
        priv = NULL;
        ring = NULL;
        stats = NULL;
        dma_pages = null;
        __free_pages(pg, DMA_ORDER);
    err_free_stats:
        vfree(st); // ok: vzalloc memory goes back with vfree
    err_free_ring:
        kfree(r); // ok: kcalloc memory freed with kfree
    err_free_priv:
        kfree(p);
    err_destroy_cache:
        kmem_cache_destroy(cache);
        return err; // ok: every resource taken before the failing step is released by the ladder above
    }

    // One slab object per ring slot; a failure unwinds only the slots filled so far.
    private int setup_rx_buffers()
    {
        kmem_cache cache = desc_cache!;
        int i;
        for (i = 0; i < RX_RING; i++)
        {
            var b = kmem_cache_alloc(cache, GFP_KERNEL);
            if (b == NULL)
                goto err_unwind;
            ref var d = ref ptr_ref<ring_desc>(b); // ok: b checked against NULL just above
            d.addr = (ulong)b;
            d.len = (uint)DESC_SIZE;
            rx_bufs[i] = b;
        }
        return 0;

    err_unwind:
        while (--i >= 0)
        {
            kmem_cache_free(cache, rx_bufs[i]); // ok: each pass frees a different slot, each exactly once
            rx_bufs[i] = NULL;
        }
        return -ENOMEM;
    }

    private void free_rx_buffers()
    {
        kmem_cache? cache = desc_cache;
        if (cache is null)
            return;
        for (int i = 0; i < RX_RING; i++)
        {
            kmem_cache_free(cache, rx_bufs[i]);
            rx_bufs[i] = NULL;
        }
    }

    // Hard-IRQ context.
    private irqreturn_t ring_isr(int irq_no, object? dev_id)
    {
        if (dev_id is not RingNic nic || nic.hw_status == 0)
            return IRQ_NONE;
        var ev = kmalloc(16, GFP_ATOMIC);
        ptr_ref<ulong>(ev) = (ulong)nic.hw_status; // expect: KH3002 (GFP_ATOMIC kmalloc result dereferenced before any NULL check)
        spin_lock(tx_lock);
        if (pending_ev == NULL)
        {
            pending_ev = ev;
            ev = NULL;
        }
        spin_unlock(tx_lock);
        kfree(ev); // ok: NULL when the event was handed to pending_ev, else the only free of it
        nic.hw_status = 0;
        tasklet_schedule(rx_tasklet);
        return IRQ_HANDLED;
    }

    // Softirq context.
    private void rx_poll(tasklet_struct t)
    {
        kptr ev;
        spin_lock_irqsave(tx_lock, out var flags);
        ev = pending_ev;
        pending_ev = NULL;
        spin_unlock_irqrestore(tx_lock, flags);
        if (ev == NULL)
            return;
        rx_events += ptr_ref<ulong>(ev); // ok: ev tested against NULL above
        kfree(ev);
    }

    public int xmit(kptr data, ulong len)
    {
        if (!spin_trylock(tx_lock)) // ok: conditional locking, released on the only path that took it
            return -EBUSY;
        if (ring != NULL && len <= DESC_SIZE)
        {
            memcpy(ring + (ulong)tx_head * DESC_SIZE, data, len);
            tx_head = (tx_head + 1) % RX_RING;
        }
        spin_unlock(tx_lock);
        return 0;
    }

    // Grows the ring under the config mutex; forgets the mutex when the allocation fails.
    public int resize_ring(ulong entries)
    {
        mutex_lock(cfg_lock); // expect: KH2003 (cfg_lock still held on the return -ENOMEM when kcalloc fails)
        var nr = kcalloc(entries, DESC_SIZE, GFP_KERNEL);
        if (nr == NULL)
            return -ENOMEM;
        var old = ring;
        ring = nr;
        mutex_unlock(cfg_lock);
        kfree(old);
        return 0;
    }

    public int set_coalesce(uint usecs)
    {
        int ret = 0;
        mutex_lock(cfg_lock); // ok: every exit goes through out_unlock
        if (usecs > 1000)
        {
            ret = -EINVAL;
            goto out_unlock;
        }
        var tmp = kmalloc(64, GFP_KERNEL);
        if (tmp == NULL)
        {
            ret = -ENOMEM;
            goto out_unlock;
        }
        memset(tmp, 0, 64);
        ptr_ref<uint>(tmp) = usecs;
        coalesce_usecs = ptr_ref<uint>(tmp);
        kfree(tmp);
    out_unlock:
        mutex_unlock(cfg_lock);
        return ret;
    }

    public int load_microcode(kptr src, ulong len)
    {
        if (len < 64)
            return -EINVAL;
        var img = vmalloc(len);
        if (img == NULL)
            return -ENOMEM; // ok: the only allocation so far is the NULL one
        var hdr = kmalloc(64, GFP_KERNEL);
        if (hdr == NULL)
            return -ENOMEM; // expect: KH3004 (img from vmalloc is neither freed nor stored when the header allocation fails)
        memcpy(img, src, len);
        memcpy(hdr, img, 64);
        if (ptr_ref<uint>(hdr) != FW_MAGIC)
        {
            kfree(hdr);
            vfree(img);
            return -EINVAL; // ok: both buffers released before the error return
        }
        pr_info("r5m_ring: microcode accepted\n");
        kfree(hdr);
        vfree(img); // ok: the bad-magic branch that also vfrees img returns before reaching here
        return 0;
    }

    public int dump_stats(ulong ubuf)
    {
        var snap = vmalloc(STATS_SIZE);
        if (snap == NULL)
            return -ENOMEM;
        mutex_lock(cfg_lock);
        if (stats != NULL)
            memcpy(snap, stats, STATS_SIZE);
        mutex_unlock(cfg_lock);
        ulong left = copy_to_user(ubuf, snap, STATS_SIZE);
        kfree(snap); // expect: KH3001 (vmalloc memory freed with kfree)
        if (left != 0)
            pr_warn("r5m_ring: short stats copy\n");
        return (int)(STATS_SIZE - left);
    }

    public int self_test()
    {
        var pattern = kmalloc(PAGE_SIZE, GFP_KERNEL);
        if (pattern == NULL)
            return -ENOMEM;
        var pg = alloc_page(GFP_KERNEL);
        if (pg == null)
        {
            kfree(pattern);
            return -ENOMEM; // ok: pattern freed just above
        }
        var va = page_address(pg);
        memset(pattern, 0x5a, PAGE_SIZE);
        memcpy(va, pattern, PAGE_SIZE);
        int ret = 0;
        if (memcmp(va, pattern, PAGE_SIZE) != 0)
        {
            pr_err("r5m_ring: DMA self-test mismatch\n");
            kfree(pattern);
            ret = -EIO;
        }
        __free_page(pg);
        kfree(pattern); // expect: KH3003 (pattern already freed on the mismatch branch)
        return ret;
    }

    public void remove()
    {
        free_irq(irq, this);
        tasklet_kill(rx_tasklet);
        free_rx_buffers();
        if (dma_pages is not null)
            __free_pages(dma_pages, DMA_ORDER);
        dma_pages = null;
        vfree(stats);
        stats = NULL;
        kfree(ring);
        ring = NULL;
        kfree(priv);
        priv = NULL;
        kfree(pending_ev);
        pending_ev = NULL;
        kmem_cache_destroy(desc_cache);
        desc_cache = null;
    }
}
