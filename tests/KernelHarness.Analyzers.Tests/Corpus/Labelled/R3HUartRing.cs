// A UART driver written with modern C#: local functions as IRQ/work callbacks, switch expressions choosing gfp,
// properties whose getters lock or sleep, extension methods wrapping kernel calls, records and tuples.
using System.Collections.Generic;
using KernelHarness;
using static KernelHarness.Kernel;

namespace Corpus.Labelled.R3HUartRing;

public enum UartMode { Polled, Irq, Dma }

public readonly record struct UartConfig(uint Baud, UartMode Mode, int FifoDepth);

public static class UartExtensions
{
    public static kptr AllocFrame(this UartPort port, ulong len, gfp_t gfp) => kzalloc(len, gfp); // ok: gfp_t parameter passed through, the caller is checked instead
    public static void ReleaseFrame(this UartPort port, kptr frame) => kfree(frame);
    public static void Settle(this UartPort port) => msleep(2);
    public static void SettleBusy(this UartPort port) => udelay(50);
}

public sealed partial class UartPort
{
    private readonly spinlock_t port_lock = new();
    private readonly mutex cfg_lock = new();
    private readonly mutex baud_lock = new();
    private readonly tasklet_struct rx_tasklet = new();
    private readonly timer_list tx_watchdog = new();
    private readonly work_struct hangup_work = new();
    private readonly wait_queue_head_t tx_wait = new();
    private static readonly percpu<long> rx_bytes = DEFINE_PER_CPU<long>();
    private readonly List<kptr> rx_frames = new();
    private kmem_cache? frame_cache;
    private kmem_cache? ctrl_cache;
    private kptr tx_buf = NULL;
    private kptr log_ring = NULL;
    private UartConfig cfg = new(115200, UartMode.Irq, 16);
    private uint irq;
    private int rx_pending;
    private int tx_pending;
    private int last_opener;
    private ulong tx_deadline;
    private ulong last_rx;
    private bool tx_done;

    // Getter that takes the port lock and forgets it on the empty path.
    public int PendingRx
    {
        get
        {
            spin_lock(port_lock); // expect: KH2003 (the getter returns 0 on the rx_pending == 0 path with port_lock still held)
            if (rx_pending == 0)
                return 0;
            int n = rx_pending;
            spin_unlock(port_lock);
            return n;
        }
    }

    public int PendingTx
    {
        get
        {
            spin_lock_irqsave(port_lock, out var flags); // ok: released on the only exit of the getter
            int n = tx_pending;
            spin_unlock_irqrestore(port_lock, flags);
            return n;
        }
    }

    // A getter that sleeps: reading it while a spinlock is held is a sleeping call in atomic context.
    private UartConfig Config
    {
        get
        {
            mutex_lock(baud_lock);
            var c = cfg;
            mutex_unlock(baud_lock);
            return c;
        }
    }

    public bool TxTimedOut => jiffies > tx_deadline; // expect: KH5001 (raw > between jiffies and tx_deadline, a field assigned jiffies + HZ)
    public bool RxIdle => jiffies - last_rx > 2 * HZ; // ok: difference of two times compared with a duration

    public int probe(uint irq_line, UartConfig config)
    {
        irq = irq_line;
        cfg = config;
        frame_cache = kmem_cache_create("uart_frame", 256, 8, SLAB_HWCACHE_ALIGN, null);
        ctrl_cache = kmem_cache_create("uart_ctrl", 64, 8, SLAB_HWCACHE_ALIGN, null);
        if (frame_cache is null || ctrl_cache is null)
            return -ENOMEM;
        tx_buf = kmalloc(4096, GFP_KERNEL);
        if (tx_buf == NULL)
            return -ENOMEM;
        var ring = vzalloc(64 * 1024);
        if (ring == NULL)
            return -ENOMEM; // ok: ring is NULL on this path and tx_buf is owned by a field
        irqreturn_t uart_isr(int irq_no, object? dev_id)
        {
            if (dev_id is not UartPort port)
                return IRQ_NONE;
            spin_lock(port.port_lock);
            port.rx_pending++;
            spin_unlock(port.port_lock);
            if (port.cfg is { Mode: UartMode.Polled })
                port.Settle(); // expect: KH1001 (extension Settle() calls msleep inside the hard-IRQ local function)
            else
                port.SettleBusy(); // ok: SettleBusy() only busy-waits with udelay, allowed in hard-IRQ context
            port.last_opener = current.pid; // expect: KH4003 (current read in a hard-IRQ handler is the interrupted task)
            port.tx_done = port.tx_pending == 0;
            wake_up(port.tx_wait);
            var note = kzalloc(32, GFP_KERNEL); // expect: KH1002 (GFP_KERNEL allocation in the hard-IRQ local function)
            if (note != NULL)
                kfree(note);
            tasklet_schedule(port.rx_tasklet);
            return IRQ_HANDLED;
        }

        void hangup(work_struct w)
        {
            mutex_lock(cfg_lock); // ok: work item runs in process context and may sleep
            last_opener = current.pid; // ok: a work item runs in process context, current is meaningful
            var scratch = kzalloc(512, GFP_KERNEL); // ok: GFP_KERNEL in a work item with only a mutex held
            if (scratch != NULL)
            {
                memset(scratch, 0, 512);
                kfree(scratch);
            }
            mutex_unlock(cfg_lock);
        }

        tasklet_setup(rx_tasklet, t =>
        {
            var frame = kmem_cache_alloc(frame_cache!, GFP_ATOMIC); // ok: GFP_ATOMIC in a tasklet (softirq)
            if (frame == NULL)
                return;
            spin_lock_irqsave(port_lock, out var flags);
            rx_frames.Add(frame);
            int n = rx_pending;
            rx_pending = 0;
            spin_unlock_irqrestore(port_lock, flags);
            this_cpu_add(rx_bytes, (long)n);
            last_rx = jiffies;
            pr_info($"r3h-uart: {n} bytes while {current.comm} ran"); // expect: KH4003 (current read in a tasklet callback, softirq context)
        });
        timer_setup(tx_watchdog, watchdog_fired, 0);
        INIT_WORK(hangup_work, hangup);
        int err = request_irq(irq, uart_isr, IRQF_TRIGGER_RISING, "r3h-uart", this);
        if (err != 0)
            return err; // expect: KH3004 (ring from vzalloc is neither freed nor stored when request_irq fails)
        log_ring = ring;
        last_rx = jiffies;
        mod_timer(tx_watchdog, jiffies + HZ);
        return 0;
    }

    private void watchdog_fired(timer_list t)
    {
        var verdict = tx_pending switch
        {
            0 => "idle",
            _ when jiffies >= tx_deadline => "stalled", // expect: KH5001 (raw >= between jiffies and tx_deadline in a switch-arm guard)
            _ when time_after(jiffies, tx_deadline - HZ / 2) => "late", // ok: time_after handles the wrap
            _ => "busy",
        };
        var note = kmalloc(128, cfg.Mode switch { UartMode.Dma => GFP_ATOMIC, _ => GFP_KERNEL }); // expect: KH1002 (the default arm of the switch expression yields GFP_KERNEL in a timer callback)
        if (note == NULL)
            return;
        var tag = kmalloc(64, cfg.Mode switch { UartMode.Dma => GFP_ATOMIC | __GFP_NOWARN, _ => GFP_NOWAIT }); // ok: every arm of the switch is non-blocking
        if (tag != NULL)
            kfree(tag);
        memset(note, 0, 128);
        kfree(note);
        if (verdict is "stalled" && current.pid != 0) // expect: KH4003 (current read in a timer callback, softirq context)
            schedule_work(hangup_work);
        mod_timer(tx_watchdog, jiffies + HZ);
    }

    public int write(ulong ubuf, ulong len)
    {
        if (len is 0 or > 4096)
            return -EINVAL;
        if (mutex_lock_interruptible(cfg_lock) != 0) return -EINTR; // ok: the mutex is not held when mutex_lock_interruptible fails
        spin_lock_irqsave(port_lock, out var flags);
        tx_pending += (int)len;
        tx_deadline = jiffies + HZ;
        var mode = Config.Mode; // expect: KH1001 (the Config getter calls mutex_lock(baud_lock) while port_lock is held with interrupts off)
        spin_unlock_irqrestore(port_lock, flags);
        if (copy_from_user(tx_buf, ubuf, len) != 0) { mutex_unlock(cfg_lock); return -EFAULT; } // ok: copy_from_user after the spinlock is dropped, only the mutex held
        var staged = this.AllocFrame(len, mode is UartMode.Dma ? GFP_KERNEL | GFP_DMA : GFP_KERNEL); // ok: allocation in process context, only a mutex held
        if (staged == NULL)
        {
            mutex_unlock(cfg_lock);
            return -ENOMEM;
        }
        memcpy(staged, tx_buf, len);
        spin_lock(port_lock);
        var shadow = this.AllocFrame(len, GFP_KERNEL); // expect: KH1002 (GFP_KERNEL passed to the allocating extension while port_lock is held)
        spin_unlock(port_lock);
        if (shadow == NULL)
        {
            this.ReleaseFrame(staged);
            mutex_unlock(cfg_lock);
            return -ENOMEM; // ok: staged was released through the extension on this path
        }
        (staged, shadow) = (shadow, staged);
        this.ReleaseFrame(staged);
        kfree(shadow);
        kfree(staged); // expect: KH3003 (after the tuple swap, staged is the buffer already released by ReleaseFrame two lines up)
        mutex_unlock(cfg_lock);
        wait_event(tx_wait, () => tx_done || jiffies > tx_deadline); // expect: KH5001 (raw > between jiffies and tx_deadline inside the wait condition lambda)
        return (int)len;
    }

    public int send_ctrl(byte op)
    {
        var msg = kmem_cache_alloc(ctrl_cache!, GFP_KERNEL);
        if (msg == NULL)
            return -ENOMEM;
        ptr_ref<byte>(msg) = op;
        switch (op)
        {
            case 0:
                kmem_cache_free(ctrl_cache!, msg); // ok: freed to the cache it came from
                return -EINVAL;
            case 1:
                kmem_cache_free(frame_cache!, msg); // expect: KH3001 (object of ctrl_cache returned to frame_cache)
                return 0;
            case > 0x7f:
                return -EINVAL; // expect: KH3004 (msg from kmem_cache_alloc leaks on the invalid-opcode path)
            default:
                this.ReleaseFrame(msg); // expect: KH3001 (ctrl_cache object freed with kfree through ReleaseFrame)
                return 0;
        }
    }

    public int open()
    {
        last_opener = current.pid; // ok: a file operation called by the opening task, process context
        return 0;
    }

    public int set_mode(UartMode mode)
    {
        mutex_lock(cfg_lock); // expect: KH2003 (the busy UartMode.Dma case returns -EBUSY with cfg_lock held)
        switch (mode)
        {
            case UartMode.Dma when tx_pending > 0:
                return -EBUSY;
            case UartMode.Polled:
                cfg = cfg with { Mode = mode, FifoDepth = 1 };
                break;
            default:
                cfg = cfg with { Mode = mode };
                break;
        }
        mutex_unlock(cfg_lock);
        return 0;
    }

    public int account(IReadOnlyList<int> sizes)
    {
        ref long mine = ref get_cpu_var(rx_bytes); // expect: KH2001 (the negative-size return inside foreach leaves preemption disabled)
        foreach (var s in sizes)
        {
            if (s < 0)
                return -EINVAL;
            mine += s;
        }
        put_cpu_var(rx_bytes);
        return 0;
    }

    public int account_safe(IReadOnlyList<int> sizes)
    {
        int err = 0;
        ref long mine = ref get_cpu_var(rx_bytes); // ok: every path leaves through the shared out_put label
        foreach (var s in sizes)
        {
            if (s < 0)
            {
                err = -EINVAL;
                goto out_put;
            }
            mine += s;
        }
    out_put:
        put_cpu_var(rx_bytes);
        return err;
    }

    public int drain(ulong budget)
    {
        ulong stop = jiffies + budget;
        spin_lock_bh(port_lock); // expect: KH2003 (the deadline return inside the loop leaves port_lock held)
        while (rx_frames is [var f, ..])
        {
            if (jiffies >= stop) return -EAGAIN; // expect: KH5001 (raw >= between jiffies and stop = jiffies + budget)
            rx_frames.RemoveAt(0);
            kmem_cache_free(frame_cache!, f);
        }
        spin_unlock_bh(port_lock);
        return 0;
    }

    public long stats()
    {
        int cpu = get_cpu(); // expect: KH2001 (the rx_frames is { Count: 0 } early return leaves preemption disabled)
        if (rx_frames is { Count: 0 })
            return 0;
        long mine = per_cpu(rx_bytes, cpu);
        put_cpu();
        return mine;
    }

    public long total()
    {
        long sum = 0;
        int cpu = get_cpu(); // ok: released in finally on every exit
        try
        {
            if (cpu < 0)
                return 0;
            sum = per_cpu(rx_bytes, cpu);
        }
        finally
        {
            put_cpu();
        }
        return sum;
    }

    public void remove()
    {
        free_irq(irq, this);
        del_timer_sync(tx_watchdog);
        cancel_work_sync(hangup_work);
        tasklet_kill(rx_tasklet);
        foreach (var f in rx_frames)
            kmem_cache_free(frame_cache!, f); // ok: frames came from frame_cache
        rx_frames.Clear();
        kfree(tx_buf);
        tx_buf = NULL;
        vfree(log_ring); // ok: log_ring only ever holds vzalloc memory
        log_ring = NULL;
        kmem_cache_destroy(ctrl_cache);
        kmem_cache_destroy(frame_cache);
    }
}
