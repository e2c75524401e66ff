// DMA engine, part 1 of 2 (a partial class; the interrupt side is in R5LDmaEngine.Irq.cs): channels, descriptor
// cache, submit/configure and the recovery helper chain both halves call. Holds vfree and a constant-true sleeping
// branch under a spinlock, blocking GFP handed to an allocating helper under a channel lock, invalid zone mixes
// (one through a local set once), get_cpu_var left on in a while loop, an unlock reached without the lock.
using KernelHarness;
using static KernelHarness.Kernel;

namespace Corpus.Labelled.R5LDmaEngine;

public sealed class DmaChan
{
    public readonly spinlock_t lk = new();
    public readonly wait_queue_head_t idle_wq = new();
    public int id;
    public int busy;
    public int done;
    public int burst = 4;
    public bool error;
    public kptr ring = NULL;
    public ulong last_kick;
}

public sealed partial class DmaEngine
{
    private const int NCHAN = 4;
    private const int DESC_BYTES = 64;
    private const int RING_ORDER = 2;

    private readonly DmaChan[] chans = { new(), new(), new(), new() };
    private readonly spinlock_t eng_lock = new();
    private readonly mutex cfg_mutex = new();
    private readonly semaphore submit_sem = new(NCHAN);
    private static readonly percpu<long> kicks = DEFINE_PER_CPU<long>();
    private kmem_cache? desc_cache;
    private kptr big_table = NULL;
    private ulong ring_addr;
    private uint irq;
    private int status;

    public int probe(uint line)
    {
        irq = line;
        desc_cache = kmem_cache_create("dma_desc", DESC_BYTES, 64, SLAB_HWCACHE_ALIGN, null);
        if (desc_cache is null)
            return -ENOMEM;
        ring_addr = __get_free_pages(GFP_KERNEL | __GFP_DMA, RING_ORDER); // ok: a single zone modifier for the page allocator
        if (ring_addr == 0)
            goto fail_cache;
        big_table = vzalloc(NCHAN * PAGE_SIZE);
        if (big_table == NULL)
            goto fail_ring;
        for (int c = 0; c < NCHAN; c++)
            chans[c].id = c;
        int err = register_irq_side(line);
        if (err != 0)
        {
            vfree(big_table);
            big_table = NULL;
            free_pages(ring_addr, RING_ORDER);
            ring_addr = 0;
            kmem_cache_destroy(desc_cache);
            desc_cache = null;
            return err;
        }
        mod_timer(stall_timer, jiffies + HZ);
        return 0;

    fail_ring:
        free_pages(ring_addr, RING_ORDER);
        ring_addr = 0;
    fail_cache:
        kmem_cache_destroy(desc_cache);
        desc_cache = null;
        return -ENOMEM;
    }

    // Allocates one descriptor with the caller's flags.
    private kptr alloc_desc(DmaChan ch, gfp_t gfp)
    {
        var d = kmem_cache_zalloc(desc_cache!, gfp); // ok: gfp_t parameter passed through; each caller's flags are checked
        if (d != NULL)
            ptr_ref<int>(d) = ch.id;
        return d;
    }

    // Recovery chain: recover -> reset_channel -> quiesce -> wait_idle -> wait_event_timeout.
    private void recover(DmaChan ch)
    {
        reset_channel(ch);
        ch.error = false;
    }

    private void reset_channel(DmaChan ch)
    {
        quiesce(ch);
        spin_lock_irq(ch.lk);
        ch.busy = 0;
        ch.done = 0;
        spin_unlock_irq(ch.lk);
    }

    private void quiesce(DmaChan ch)
    {
        ch.last_kick = jiffies;
        wait_idle(ch);
    }

    private static void wait_idle(DmaChan ch) => wait_event_timeout(ch.idle_wq, () => ch.busy == 0, (long)(HZ / 10));

    // Sleeps only when the caller says it may.
    private static void stop_channel(DmaChan ch, bool may_sleep)
    {
        if (may_sleep)
            msleep(5);
        else
            mdelay(1);
        ch.busy = 0;
    }

    private static void end_cpu_stats() => put_cpu(); // ok: release helper, every caller took get_cpu first

    public int submit(int chan, ulong len)
    {
        if ((uint)chan >= NCHAN || len == 0)
            return -EINVAL;
        int err = 0;
        var ch = chans[chan];
        down(submit_sem);
        spin_lock_irqsave(ch.lk, out ulong flags); // ok: every path reaches the shared out_unlock exit
        if (ch.error)
        {
            err = -EIO;
            goto out_unlock;
        }
        if (ch.busy >= 8)
        {
            err = -EBUSY;
            goto out_unlock;
        }
        ch.busy++;
        ch.last_kick = jiffies;
    out_unlock:
        spin_unlock_irqrestore(ch.lk, flags);
        up(submit_sem);
        return err;
    }

    public int configure(int chan, int burst)
    {
        int err = 0;
        if (mutex_lock_interruptible(cfg_mutex) != 0)
        {
            err = -EINTR;
            goto out_unlock;
        }
        if ((uint)chan >= NCHAN)
        {
            err = -EINVAL;
            goto out_unlock;
        }
        chans[chan].burst = burst;
    out_unlock:
        mutex_unlock(cfg_mutex); // expect: KH2003 (reached from the interrupted mutex_lock_interruptible path, where cfg_mutex is not held)
        return err;
    }

    public int halt(int chan)
    {
        if ((uint)chan >= NCHAN)
            return -EINVAL;
        var ch = chans[chan];
        spin_lock_irqsave(ch.lk, out ulong flags);
        stop_channel(ch, true); // expect: KH1001 (the constant true takes stop_channel's msleep branch while ch.lk is held)
        spin_unlock_irqrestore(ch.lk, flags);
        return 0;
    }

    public int resize_table(ulong pages)
    {
        if (pages == 0 || pages > 64)
            return -EINVAL;
        var fresh = vzalloc(pages * PAGE_SIZE);
        if (fresh == NULL)
            return -ENOMEM;
        spin_lock(eng_lock);
        var old = big_table;
        big_table = fresh;
        vfree(old); // expect: KH1001 (vfree may sleep outside interrupt context, and eng_lock is held)
        spin_unlock(eng_lock);
        return 0;
    }

    public int prefill(int chan)
    {
        var ch = chans[chan & (NCHAN - 1)];
        spin_lock(ch.lk);
        if (ch.ring == NULL)
            ch.ring = alloc_desc(ch, GFP_KERNEL); // expect: KH1002 (blocking GFP_KERNEL passed to the allocating helper alloc_desc while ch.lk is held)
        spin_unlock(ch.lk);
        return ch.ring == NULL ? -ENOMEM : 0;
    }

    public int prefill_atomic(int chan)
    {
        var ch = chans[chan & (NCHAN - 1)];
        spin_lock(ch.lk);
        if (ch.ring == NULL)
            ch.ring = alloc_desc(ch, GFP_ATOMIC); // ok: GFP_ATOMIC never blocks, allowed with ch.lk held
        spin_unlock(ch.lk);
        return ch.ring == NULL ? -ENOMEM : 0;
    }

    public kptr alloc_dma32_desc()
    {
        gfp_t gfp = GFP_KERNEL | __GFP_ZERO | __GFP_DMA32;
        return kmem_cache_alloc(desc_cache!, gfp); // expect: KH1004 (gfp, set once to GFP_KERNEL | __GFP_ZERO | __GFP_DMA32, hands __GFP_DMA32 to a slab cache)
    }

    public ulong alloc_bounce()
    {
        ulong addr = __get_free_pages(GFP_KERNEL | __GFP_DMA | __GFP_DMA32, 0); // expect: KH1004 (two zone modifiers, __GFP_DMA with __GFP_DMA32)
        return addr;
    }

    public int account_bytes(ulong[] lens)
    {
        ref long k = ref get_cpu_var(kicks); // expect: KH2001 (the zero-length return inside the while loop leaves preemption disabled)
        int i = 0;
        while (i < lens.Length)
        {
            if (lens[i] == 0)
                return -EINVAL;
            k += (long)lens[i];
            i++;
        }
        put_cpu_var(kicks);
        return 0;
    }

    public void shutdown()
    {
        foreach (var ch in chans)
            stop_channel(ch, true); // ok: process context with nothing held: the msleep branch is allowed here
        remove_irq_side();
        foreach (var ch in chans)
        {
            if (ch.ring != NULL)
                kmem_cache_free(desc_cache!, ch.ring);
            ch.ring = NULL;
        }
        vfree(big_table);
        big_table = NULL;
        free_pages(ring_addr, RING_ORDER);
        ring_addr = 0;
        kmem_cache_destroy(desc_cache);
        desc_cache = null;
    }
}
