// I2C-style sensor bus controller: the driver implements IBusClient, whose methods are registered (through an
// interface-typed reference) as the IRQ handler and a work item, and ISampleSink explicitly; register access goes
// through a static BusUtil class and generic helpers (Settled<T>, Latched<T>, Fetch<T>) sit between atomic callers
// and sleeping calls. Holds sleeps reached through generic helpers, blocking GFP handed to a utility allocator,
// invalid zone combinations, GFP_ATOMIC in a kthread helper, preemption/irqs/locks left on by early returns.
using KernelHarness;
using static KernelHarness.Kernel;

namespace Corpus.Labelled.R5LSensorBus;

public interface IBusClient
{
    irqreturn_t on_irq(int irq, object? dev_id);
    void on_rescan(work_struct w);
}

public interface ISampleSink
{
    void push_sample(int chan, int value);
}

internal static class BusUtil
{
    public const int MAX_CHAN = 16;

    // Allocates a bus message with the caller's flags.
    public static kptr alloc_msg(ulong len, gfp_t gfp) => kzalloc(len, gfp); // ok: the gfp_t parameter is passed through; callers are checked

    // One register transaction: arbitrate for the bus (a mutex) and wait out the ACK.
    public static int transact(mutex bus, int[] regs, int addr)
    {
        mutex_lock(bus);
        int v = regs[addr & (MAX_CHAN - 1)];
        usleep_range(10, 20);
        mutex_unlock(bus);
        return v;
    }

    // Clock stretching by the slave: a few microseconds of busy wait.
    public static void clock_stretch(int cycles)
    {
        for (int i = 0; i < cycles; i++)
            udelay(2);
    }

    public static int fold(int[] data, int seed)
    {
        int acc = seed;
        foreach (int d in data)
            acc = (acc << 1) ^ d;
        return acc;
    }
}

public sealed class SensorBus : IBusClient, ISampleSink
{
    private const int NCHAN = BusUtil.MAX_CHAN;

    private readonly spinlock_t sample_lock = new();
    private readonly rwlock_t cal_lock = new();
    private readonly mutex bus_mutex = new();
    private readonly work_struct rescan_work = new();
    private readonly tasklet_struct push_bh = new();
    private static readonly percpu<long> reads = DEFINE_PER_CPU<long>();
    private readonly int[] regs = new int[NCHAN];
    private readonly int[] samples = new int[NCHAN];
    private readonly int[] calib = new int[NCHAN];
    private kmem_cache? msg_cache;
    private task_struct? poller;
    private uint irq;
    private int irq_status;
    private int last_chan;
    private int dropped;

    public int probe(uint line)
    {
        irq = line;
        msg_cache = kmem_cache_create("sbus_msg", 64, 8, SLAB_HWCACHE_ALIGN, null);
        if (msg_cache is null)
            return -ENOMEM;
        IBusClient self = this;
        INIT_WORK(rescan_work, self.on_rescan);
        tasklet_setup(push_bh, push_fn);
        int err = request_irq(irq, self.on_irq, IRQF_SHARED, "sbus", this);
        if (err != 0)
        {
            kmem_cache_destroy(msg_cache);
            msg_cache = null;
            return err;
        }
        poller = kthread_run(poll_thread, this, "sbus-poll");
        return 0;
    }

    // Generic helpers between the callers and the hardware.
    private static T Settled<T>(T value)
    {
        usleep_range(20, 40);
        return value;
    }

    private static T Latched<T>(T value)
    {
        udelay(1);
        return value;
    }

    private T Fetch<T>(T[] table, int idx)
    {
        mutex_lock(bus_mutex);
        T v = table[idx & (NCHAN - 1)];
        mutex_unlock(bus_mutex);
        return v;
    }

    // Hard-IRQ context: registered with request_irq through the IBusClient reference in probe.
    public irqreturn_t on_irq(int irq_no, object? dev_id)
    {
        if (dev_id is not SensorBus bus || bus.irq_status == 0)
            return IRQ_NONE;
        int st = bus.irq_status;
        bus.irq_status = 0;
        int chan = st & (NCHAN - 1);
        spin_lock(sample_lock);
        samples[chan] = Latched(regs[chan]); // ok: Latched<T>() only busy-waits with udelay
        last_chan = chan;
        spin_unlock(sample_lock);
        if ((st & 0x100) != 0)
        {
            int raw = Settled(regs[chan]); // expect: KH1001 (generic Settled<int>() -> usleep_range() sleeps; on_irq is the hard-IRQ handler registered in probe)
            regs[chan] = raw & 0xfff;
        }
        if ((st & 0x200) != 0)
            BusUtil.clock_stretch(4); // ok: BusUtil.clock_stretch() busy-waits with udelay
        tasklet_schedule(push_bh);
        return IRQ_HANDLED;
    }

    // Softirq context: tasklet.
    private void push_fn(tasklet_struct t)
    {
        read_lock(cal_lock);
        int chan = last_chan;
        int c = Fetch(calib, chan); // expect: KH1001 (generic Fetch<int>() takes bus_mutex with mutex_lock, in a tasklet with cal_lock read-held)
        read_unlock(cal_lock);
        var msg = BusUtil.alloc_msg(64, GFP_KERNEL); // expect: KH1002 (blocking GFP_KERNEL passed to the allocating BusUtil.alloc_msg from a tasklet: softirq context)
        if (msg == NULL)
        {
            dropped++;
            return;
        }
        var tag = BusUtil.alloc_msg(16, GFP_NOWAIT); // ok: GFP_NOWAIT never blocks, allowed in softirq
        if (tag != NULL)
        {
            ptr_ref<int>(tag) = chan;
            kfree(tag);
        }
        ptr_ref<int>(msg) = samples[chan] - c;
        ISampleSink sink = this;
        sink.push_sample(chan, ptr_ref<int>(msg));
        kfree(msg);
    }

    // Reached through the interface from push_fn (softirq).
    void ISampleSink.push_sample(int chan, int value)
    {
        local_irq_save(out ulong outer);
        spin_lock(sample_lock);
        local_irq_save(out ulong inner);
        samples[chan] = value;
        local_irq_restore(inner); // ok: properly nested: the inner save is restored first
        spin_unlock(sample_lock);
        local_irq_restore(outer);
    }

    // Process context: registered with INIT_WORK through the IBusClient reference.
    public void on_rescan(work_struct w)
    {
        var table = kcalloc(NCHAN, sizeof(int), GFP_ATOMIC); // ok: public interface method with unknown callers, so KH1003 does not apply
        if (table == NULL)
            return;
        int v = BusUtil.transact(bus_mutex, regs, 3); // ok: work item, nothing held: the bus mutex may sleep here
        write_lock_bh(cal_lock);
        for (int ch = 0; ch < NCHAN; ch++)
            calib[ch] = (v >> (ch & 7)) & 0xff;
        write_unlock_bh(cal_lock); // ok: write_lock_bh paired with write_unlock_bh
        memset(table, 0, NCHAN * sizeof(int));
        kfree(table);
    }

    // Process context: kernel thread.
    private int poll_thread(object? data)
    {
        while (!kthread_should_stop())
        {
            var buf = alloc_poll_buf();
            if (buf == NULL)
            {
                msleep(100); // ok: kernel thread, nothing held
                continue;
            }
            int cpu = get_cpu(); // ok: put_cpu runs before the continue and at the end of each round
            if (samples[0] == 0)
            {
                put_cpu();
                kfree(buf);
                msleep(50);
                continue;
            }
            per_cpu(reads, cpu)++;
            var stamp = kmalloc(8, GFP_ATOMIC); // ok: get_cpu has disabled preemption: atomic even in the kernel thread, so GFP_ATOMIC is right
            put_cpu();
            kfree(stamp);
            var note = BusUtil.alloc_msg(32, GFP_KERNEL); // ok: kernel thread with nothing held: blocking flags are fine
            if (note != NULL)
                kfree(note);
            kfree(buf);
            msleep(50);
        }
        return 0;
    }

    private kptr alloc_poll_buf() => kmalloc(NCHAN * sizeof(int), GFP_ATOMIC); // expect: KH1003 (private helper reached only from the poll_thread kernel thread, with nothing held)

    public int selftest()
    {
        var m = kmem_cache_alloc(msg_cache!, GFP_KERNEL | __GFP_HIGHMEM); // expect: KH1004 (__GFP_HIGHMEM passed to a slab cache: GFP_SLAB_BUG_MASK)
        if (m == NULL)
            return -ENOMEM;
        kmem_cache_free(msg_cache!, m);
        var hp = alloc_pages(GFP_HIGHUSER, 0); // ok: highmem through the page allocator, a single zone modifier
        if (hp is null)
            return -ENOMEM;
        __free_pages(hp, 0);
        var bad = alloc_pages(GFP_KERNEL | __GFP_DMA | __GFP_HIGHMEM, 0); // expect: KH1004 (two zone modifiers, __GFP_DMA with __GFP_HIGHMEM)
        if (bad is not null)
            __free_pages(bad, 0);
        var must = kmem_cache_alloc(msg_cache!, GFP_NOIO | __GFP_NOFAIL); // ok: __GFP_NOFAIL with GFP_NOIO, which may block: a valid combination
        kmem_cache_free(msg_cache!, must);
        return 0;
    }

    public int sample_local(int chan)
    {
        preempt_disable(); // expect: KH2001 (the default case returns -EINVAL with preemption still disabled)
        int v;
        switch (chan)
        {
            case >= 0 and < NCHAN:
                v = samples[chan];
                break;
            default:
                return -EINVAL;
        }
        this_cpu_inc(reads);
        preempt_enable();
        return v;
    }

    public int zero_channels(int[] chans)
    {
        local_irq_disable(); // expect: KH2002 (the out-of-range return inside the foreach leaves interrupts disabled)
        foreach (int c in chans)
        {
            if ((uint)c >= NCHAN)
                return -EINVAL;
            samples[c] = 0;
        }
        local_irq_enable();
        return 0;
    }

    public void swap_calibration(int a, int b)
    {
        local_irq_save(out ulong f_cal);
        int ca = calib[a & (NCHAN - 1)];
        local_irq_save(out ulong f_smp);
        calib[a & (NCHAN - 1)] = calib[b & (NCHAN - 1)];
        calib[b & (NCHAN - 1)] = ca;
        local_irq_restore(f_cal); // expect: KH2002 (crossed: f_cal is restored while the later save f_smp is still open)
        local_irq_restore(f_smp);
    }

    public int find_channel(int value)
    {
        read_lock(cal_lock); // expect: KH2003 (the return inside the for loop leaves cal_lock read-held)
        for (int ch = 0; ch < NCHAN; ch++)
        {
            if (calib[ch] == value)
                return ch;
        }
        read_unlock(cal_lock);
        return -ENOENT;
    }

    public int read_reg(int addr)
    {
        if (mutex_lock_interruptible(bus_mutex) != 0) // ok: conditional locking, balanced: bus_mutex is held only when 0 came back
            return -EINTR;
        int v = regs[addr & (NCHAN - 1)];
        mutex_unlock(bus_mutex);
        return v;
    }

    public int rescale(int factor)
    {
        read_lock_irqsave(cal_lock, out ulong flags);
        spin_lock(sample_lock);
        for (int ch = 0; ch < NCHAN; ch++)
            samples[ch] = samples[ch] * factor / (calib[ch] | 1);
        spin_unlock(sample_lock); // ok: sample_lock was taken with plain spin_lock; cal_lock's irqsave is undone below
        read_unlock_irqrestore(cal_lock, flags);
        return 0;
    }

    public int set_calib(int chan, int value)
    {
        write_lock_irq(cal_lock);
        calib[chan & (NCHAN - 1)] = value;
        write_unlock(cal_lock); // expect: KH2004 (write_lock_irq released with write_unlock: interrupts stay disabled)
        return 0;
    }

    public int checksum() => BusUtil.fold(samples, dropped);

    public void remove()
    {
        if (poller is not null)
            kthread_stop(poller);
        free_irq(irq, this);
        tasklet_kill(push_bh);
        cancel_work_sync(rescan_work);
        kmem_cache_destroy(msg_cache);
        msg_cache = null;
    }
}
