// Audio mixer card built on a small abstract "sound card" base class: the derived driver overrides the base's
// abstract/virtual callbacks and registers them itself (IRQ, tasklet, work item). Holds a sleep and a blocking
// allocation in overridden atomic callbacks, a NOFAIL/ATOMIC mix, an irq-save left open in a timer, locks left
// held by a switch case, and mismatched unlock variants.
using KernelHarness;
using static KernelHarness.Kernel;

namespace Corpus.Labelled.R5LAudioMixer;

public abstract class SndCardBase
{
    protected readonly spinlock_t card_lock = new();
    protected readonly mutex ctl_mutex = new();
    protected uint irq_line;
    protected int hw_status;
    protected bool running;

    // The derived card supplies the callbacks and registers them.
    protected abstract irqreturn_t card_isr(int irq, object? dev_id);

    protected virtual void on_period(tasklet_struct t) { }

    protected virtual void apply_controls(work_struct w) { }

    // The codec wants 100-200 us between register writes: a sleeping wait.
    protected void codec_settle() => usleep_range(100, 200);

    // Latching a gain register only needs a few microseconds: a busy wait.
    protected static void codec_latch() => udelay(5);

    protected int take_status()
    {
        spin_lock(card_lock);
        int s = hw_status;
        hw_status = 0;
        spin_unlock(card_lock);
        return s;
    }

    protected bool card_running => running;
}

public sealed class MixerCard : SndCardBase
{
    private const int NCH = 8;
    private const int PERIOD_BYTES = 1024;

    private readonly spinlock_t mix_lock = new();
    private readonly rwlock_t route_lock = new();
    private readonly tasklet_struct period_bh = new();
    private readonly work_struct ctl_work = new();
    private readonly timer_list xrun_timer = new();
    private static readonly percpu<long> periods_done = DEFINE_PER_CPU<long>();
    private readonly int[] gain = new int[NCH];
    private readonly int[] route = new int[NCH];
    private kmem_cache? period_cache;
    private kptr dma_area = NULL;
    private kptr levels_shadow = NULL;
    private int pending_periods;
    private int xruns;
    private ulong last_period;
    private ulong saved_irq_flags;

    public int probe(uint irq)
    {
        period_cache = kmem_cache_create("mixer_period", PERIOD_BYTES, 64, SLAB_HWCACHE_ALIGN, null);
        if (period_cache is null)
            return -ENOMEM;
        dma_area = kzalloc(NCH * PERIOD_BYTES, GFP_KERNEL | __GFP_DMA); // ok: one zone modifier, and __GFP_DMA is not in GFP_SLAB_BUG_MASK: valid for kmalloc
        if (dma_area == NULL)
        {
            kmem_cache_destroy(period_cache);
            period_cache = null;
            return -ENOMEM;
        }
        irq_line = irq;
        // The overrides are registered here, by the derived class.
        tasklet_setup(period_bh, on_period);
        INIT_WORK(ctl_work, apply_controls);
        timer_setup(xrun_timer, xrun_check, 0);
        int err = request_irq(irq, card_isr, IRQF_TRIGGER_RISING, "mixer", this);
        if (err != 0)
        {
            kfree(dma_area);
            dma_area = NULL;
            kmem_cache_destroy(period_cache);
            period_cache = null;
            return err;
        }
        running = true;
        last_period = jiffies;
        mod_timer(xrun_timer, jiffies + HZ);
        return 0;
    }

    // Hard-IRQ context: the override registered with request_irq in probe.
    protected override irqreturn_t card_isr(int irq, object? dev_id)
    {
        int s = take_status();
        if (s == 0)
            return IRQ_NONE;
        spin_lock(mix_lock);
        pending_periods++;
        if ((s & 0x4) != 0)
            codec_latch(); // ok: codec_latch() is a udelay busy wait, allowed with mix_lock held in hard IRQ
        spin_unlock(mix_lock);
        if ((s & 0x8) != 0)
            codec_settle(); // expect: KH1001 (codec_settle() -> usleep_range() sleeps; card_isr is the hard-IRQ handler registered in probe)
        if ((s & 0x10) != 0)
        {
            var ev = kmalloc(32, GFP_ATOMIC | __GFP_NOFAIL); // expect: KH1004 (__GFP_NOFAIL combined with GFP_ATOMIC, which may not block)
            if (ev != NULL)
            {
                ptr_ref<int>(ev) = s;
                kfree(ev);
            }
        }
        tasklet_schedule(period_bh);
        return IRQ_HANDLED;
    }

    // Softirq context: the override registered with tasklet_setup in probe.
    protected override void on_period(tasklet_struct t)
    {
        spin_lock_irqsave(mix_lock, out ulong flags);
        int n = pending_periods;
        pending_periods = 0;
        spin_unlock_irqrestore(mix_lock, flags); // ok: irqsave paired with irqrestore and the same flags
        if (n == 0)
            return;
        var blk = kmem_cache_alloc(period_cache!, GFP_KERNEL); // expect: KH1002 (GFP_KERNEL in the overridden on_period, registered with tasklet_setup: softirq context)
        if (blk != NULL)
        {
            memset(blk, 0, PERIOD_BYTES);
            kmem_cache_free(period_cache!, blk);
        }
        int cpu = get_cpu(); // ok: every case of the switch breaks to the single put_cpu below
        switch (n)
        {
            case 1:
                per_cpu(periods_done, cpu)++;
                break;
            case > 1 and < 64:
                per_cpu(periods_done, cpu) += n;
                break;
            default:
                xruns++;
                break;
        }
        put_cpu();
        last_period = jiffies;
    }

    // Process context: the override registered with INIT_WORK in probe.
    protected override void apply_controls(work_struct w)
    {
        mutex_lock(ctl_mutex);
        for (int ch = 0; ch < NCH; ch++)
        {
            codec_settle(); // ok: work item, process context; only ctl_mutex, a sleeping lock, is held
            write_lock_irqsave(route_lock, out ulong flags);
            route[ch] = gain[ch] > -96 ? ch : -1;
            write_unlock_irqrestore(route_lock, flags); // ok: write_lock_irqsave paired with write_unlock_irqrestore
        }
        mutex_unlock(ctl_mutex);
        var shadow = kzalloc(NCH * sizeof(int), GFP_KERNEL); // ok: process context and every lock has been dropped
        if (shadow == NULL)
            return;
        for (int ch = 0; ch < NCH; ch++)
            ptr_span(shadow, NCH * sizeof(int))[ch * sizeof(int)] = (byte)(gain[ch] & 0xff);
        kfree(levels_shadow);
        levels_shadow = shadow;
    }

    // Softirq context: timer callback.
    private void xrun_check(timer_list t)
    {
        if (!time_after(jiffies, last_period + HZ / 2))
        {
            mod_timer(xrun_timer, jiffies + HZ);
            return;
        }
        local_irq_save(out ulong flags); // expect: KH2002 (the return for a stopped card leaves interrupts disabled)
        xruns++;
        if (!card_running)
            return;
        pending_periods = 0;
        local_irq_restore(flags);
        mod_timer(xrun_timer, jiffies + HZ);
    }

    public int set_gain(int ch, int db)
    {
        if (ch < 0 || ch >= NCH)
            return -EINVAL;
        mutex_lock(ctl_mutex); // expect: KH2003 (the 'case > 12' return leaves ctl_mutex held)
        spin_lock_irqsave(mix_lock, out ulong flags); // expect: KH2003 (the 'case > 12' return leaves mix_lock held)
        switch (db)
        {
            case < -96:
                gain[ch] = -96;
                break;
            case > 12:
                return -EINVAL;
            default:
                gain[ch] = db;
                break;
        }
        spin_unlock_irqrestore(mix_lock, flags);
        mutex_unlock(ctl_mutex);
        schedule_work(ctl_work);
        return 0;
    }

    public int try_mute(int ch)
    {
        if ((uint)ch >= NCH)
            return -EINVAL;
        if (!spin_trylock(mix_lock)) // ok: conditional locking, balanced: the taken path unlocks below
        {
            codec_settle(); // ok: the trylock failed on this path, so mix_lock is not held
            return -EBUSY;
        }
        gain[ch] = -96;
        spin_unlock(mix_lock);
        return 0;
    }

    public void mute_all()
    {
        local_irq_save(out saved_irq_flags); // ok: the flags kept in a field are restored by unmute_restore(), whose summary restores
        for (int ch = 0; ch < NCH; ch++)
            gain[ch] = -96;
        pending_periods = 0;
        unmute_restore();
    }

    private void unmute_restore() => local_irq_restore(saved_irq_flags); // ok: restores the flags mute_all saved in the field

    public void reset_levels()
    {
        spin_lock_irqsave(mix_lock, out ulong flags);
        spin_lock(card_lock);
        hw_status = 0;
        spin_unlock(card_lock); // ok: card_lock was taken with plain spin_lock; mix_lock's irqsave is undone below
        for (int ch = 0; ch < NCH; ch++)
            gain[ch] = 0;
        spin_unlock_irqrestore(mix_lock, flags);
    }

    public int read_route(int ch)
    {
        if ((uint)ch >= NCH)
            return -EINVAL;
        read_lock_bh(route_lock);
        int r = route[ch];
        read_unlock(route_lock); // expect: KH2004 (read_lock_bh released with read_unlock: bottom halves stay disabled)
        return r;
    }

    public int xrun_count()
    {
        spin_lock_irq(mix_lock);
        int n = xruns;
        spin_unlock(mix_lock); // expect: KH2004 (spin_lock_irq released with spin_unlock: interrupts stay disabled)
        return n;
    }

    // Unknown callers: public API of the card.
    public kptr snapshot_gains()
    {
        var snap = kmalloc(NCH * sizeof(int), GFP_ATOMIC); // ok: public method with unknown callers, KH1003 does not apply
        if (snap == NULL)
            return NULL;
        for (int ch = 0; ch < NCH; ch++)
            ptr_span(snap, NCH * sizeof(int))[ch * sizeof(int)] = (byte)(gain[ch] & 0xff);
        return snap;
    }

    public long periods_on(int cpu) => per_cpu(periods_done, cpu);

    public void remove()
    {
        running = false;
        del_timer_sync(xrun_timer);
        free_irq(irq_line, this);
        tasklet_kill(period_bh);
        cancel_work_sync(ctl_work);
        kfree(levels_shadow);
        levels_shadow = NULL;
        kfree(dma_area);
        dma_area = NULL;
        kmem_cache_destroy(period_cache);
        period_cache = null;
    }
}
