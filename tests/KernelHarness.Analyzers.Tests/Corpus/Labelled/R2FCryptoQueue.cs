// Crypto offload engine: a dispatcher kernel thread (method group), a reaper thread and a completion work item given as
// lambdas, a done-IRQ lambda and a watchdog timer. Holds kthread mm dereferences, waits without re-checks, GFP misuse.
using KernelHarness;
using static KernelHarness.Kernel;

namespace Corpus.Labelled.R2FCryptoQueue;

public sealed class CryptoEngine
{
    private const int QUEUE_DEPTH = 32;
    private const ulong REQ_BYTES = 64;

    private readonly spinlock_t q_lock = new();
    private readonly spinlock_t stat_lock = new();
    private readonly mutex key_lock = new();
    private readonly wait_queue_head_t submit_wait = new();
    private readonly wait_queue_head_t done_wait = new();
    private readonly timer_list watchdog = new();
    private readonly work_struct done_work = new();
    private readonly work_struct rekey_work = new();
    private static readonly percpu<long> completed = DEFINE_PER_CPU<long>();
    private kmem_cache? req_cache;
    private task_struct? dispatcher;
    private task_struct? reaper;
    private kptr slots = NULL;
    private uint irq;
    private int queued, in_flight, done_count, stalls;
    private bool engine_up;
    private ulong last_done;
    private ulong owner_vm, reaper_stack, charged, mapped;
    private int irq_pid, submit_pid, dispatch_pid;
    private string stall_comm = "", submit_comm = "";

    public int init(uint line)
    {
        irq = line;
        req_cache = kmem_cache_create("crypto_req", REQ_BYTES, 8, SLAB_HWCACHE_ALIGN, null);
        if (req_cache is null)
            return -ENOMEM;
        slots = kcalloc(QUEUE_DEPTH, REQ_BYTES, GFP_KERNEL);
        if (slots == NULL)
        {
            kmem_cache_destroy(req_cache);
            return -ENOMEM;
        }
        INIT_WORK(done_work, w =>
        {
            owner_vm = current.mm.total_vm; // expect: KH6002 (work-item lambda runs in a kworker whose current.mm is NULL)
            var batch = kmalloc(QUEUE_DEPTH * 8, GFP_ATOMIC); // expect: KH1003 (work-item lambda, process context with nothing held)
            if (batch == NULL)
                return;
            collect_done(batch);
            charge_owner();
            kfree(batch);
        });
        INIT_WORK(rekey_work, rekey_fn);
        timer_setup(watchdog, watchdog_fired, 0);
        int err = request_irq(irq, (n, dev) =>
        {
            if (dev is not CryptoEngine e || e.in_flight == 0)
                return IRQ_NONE;
            irq_pid = current.pid; // expect: KH4003 (lambda registered with request_irq: hard-IRQ context)
            var ev = kmalloc(REQ_BYTES, GFP_KERNEL); // expect: KH1002 (GFP_KERNEL in the hard-IRQ lambda)
            kfree(ev);
            mdelay(1); // ok: busy wait, allowed in hard-IRQ context
            spin_lock(q_lock);
            in_flight--;
            done_count++;
            spin_unlock(q_lock);
            last_done = jiffies;
            wake_up(done_wait);
            schedule_work(done_work);
            return IRQ_HANDLED;
        }, IRQF_TRIGGER_HIGH, "crypto", this);
        if (err != 0)
        {
            kfree(slots);
            kmem_cache_destroy(req_cache);
            return err;
        }
        engine_up = true;
        dispatcher = kthread_run(dispatch_thread, this, "crypto-disp");
        reaper = kthread_run(data =>
        {
            reaper_stack = current.mm.start_stack; // expect: KH6002 (kthread_run lambda: a kernel thread's current.mm is NULL)
            var seed = kmalloc(64, GFP_ATOMIC); // expect: KH1003 (kthread_run lambda, process context with nothing held)
            kfree(seed);
            while (!kthread_should_stop())
                reaper_scan();
            return 0;
        }, null, "crypto-reap");
        mod_timer(watchdog, jiffies + HZ);
        return 0;
    }

    private kptr build_desc(gfp_t gfp) => kzalloc(REQ_BYTES, gfp); // ok: gfp is passed through from the caller, which is checked instead
    private kptr alloc_scratch() => kmalloc(128, GFP_ATOMIC); // expect: KH1003 (private helper reached only from dispatch_thread and rekey_fn, both process context with nothing held)
    private kptr alloc_event() => kmalloc(32, GFP_ATOMIC); // ok: also reached from watchdog_fired, a timer callback in softirq context
    private void wait_slot_free() => wait_event(submit_wait, () => in_flight < QUEUE_DEPTH);

    private void reserve_slot()
    {
        wait_slot_free();
        in_flight++;
    }

    private void flush_done() => flush_work(done_work);
    private void note_stall() => record_stall_task();

    private void record_stall_task()
    {
        stall_comm = current.comm; // expect: KH4003 (reached from the watchdog timer: watchdog_fired -> note_stall -> record_stall_task)
    }

    private void collect_done(kptr batch)
    {
        if (current.mm is null)
            return;
        mapped = current.mm.total_vm; // ok: current.mm is tested with `is null` first
        memset(batch, 0, QUEUE_DEPTH * 8);
    }

    private void charge_owner() => account_pages();

    private void account_pages()
    {
        charged += current.mm.total_vm >> PAGE_SHIFT; // expect: KH6002 (two calls below the done_work lambda: charge_owner -> account_pages, no null test)
    }

    private void reaper_scan()
    {
        int maps = current.mm?.map_count ?? 0; // ok: current.mm?.X tolerates the NULL mm of the kernel thread
        ulong lazy = current.active_mm!.total_vm; // ok: active_mm, not mm, is what a kernel thread borrows
        mapped = lazy + (ulong)maps;
        var wait = DEFINE_WAIT();
    again:
        prepare_to_wait(done_wait, wait, TASK_INTERRUPTIBLE);
        if (done_count == 0 && !kthread_should_stop())
        {
            schedule(); // ok: the backward goto re-tests done_count after every wake-up
            goto again;
        }
        finish_wait(done_wait, wait);
        done_count = 0;
    }

    private void watchdog_fired(timer_list t)
    {
        int cpu = get_cpu(); // expect: KH2001 (get_cpu not undone when the switch returns for a full queue)
        switch (in_flight)
        {
            case 0:
                put_cpu();
                return;
            case QUEUE_DEPTH:
                stalls++;
                return;
        }
        per_cpu(completed, cpu) += done_count;
        put_cpu();
        note_stall();
        var ev = alloc_event();
        kfree(ev);
        var req = kmem_cache_alloc(req_cache!, GFP_KERNEL); // expect: KH1002 (GFP_KERNEL in a timer callback, softirq context)
        if (req != NULL)
            kmem_cache_free(req_cache!, req);
        if (time_after(jiffies, last_done + 2 * HZ))
            flush_done(); // expect: KH1001 (flush_done -> flush_work waits for the work item, from a timer callback in softirq context)
        mod_timer(watchdog, jiffies + HZ);
    }

    private int dispatch_thread(object? data)
    {
        mapped = (ulong)current.mm.map_count; // expect: KH6002 (kthread_run threadfn: a kernel thread's current.mm is NULL)
        dispatch_pid = current.pid; // ok: a kernel thread runs in process context
        while (!kthread_should_stop())
        {
            if (wait_for_work() != 0)
                continue;
            spin_lock_bh(stat_lock);
            reserve_slot(); // expect: KH1001 (reserve_slot -> wait_slot_free -> wait_event, stat_lock held with bottom halves off)
            spin_unlock_bh(stat_lock);
            var desc = build_desc(GFP_KERNEL); // ok: process context and stat_lock already dropped
            var tmp = alloc_scratch();
            var ev = alloc_event();
            rcu_read_lock();
            var note = kmalloc(16, GFP_ATOMIC); // ok: inside an RCU read-side section, sleeping is not allowed
            rcu_read_unlock();
            kfree(note);
            kfree(ev);
            kfree(tmp);
            kfree(desc);
        }
        return 0;
    }

    private void rekey_fn(work_struct w)
    {
        var mm = current.mm;
        if (mm == null)
            return;
        mutex_lock(key_lock);
        owner_vm = mm.total_vm; // ok: the local copy of current.mm was tested against null
        mutex_unlock(key_lock);
        var scratch = alloc_scratch();
        kfree(scratch);
        spin_lock_bh(stat_lock);
        var desc = build_desc(GFP_KERNEL); // expect: KH1002 (blocking GFP_KERNEL passed to the allocating helper while stat_lock is held with bh off)
        var spare = kmalloc(32, GFP_ATOMIC); // ok: stat_lock is held, GFP_ATOMIC is required here
        spin_unlock_bh(stat_lock);
        kfree(spare);
        kfree(desc);
    }

    private int wait_for_work()
    {
        var wait = DEFINE_WAIT();
        bool have = false;
        while (!have)
        {
            prepare_to_wait(submit_wait, wait, TASK_INTERRUPTIBLE);
            have = queued > 0 || kthread_should_stop();
            if (!have)
                schedule(); // ok: the loop refreshes have from queued on every pass
        }
        finish_wait(submit_wait, wait);
        return queued > 0 ? 0 : -EAGAIN;
    }

    public int submit()
    {
        submit_pid = current.pid; // ok: process context (a system call), not an interrupt
        mapped = current.mm.total_vm; // ok: submit() is a system-call path, not reachable from a kernel thread or work item
        reserve_slot(); // ok: same helper as in dispatch_thread, but here nothing is held
        var req = kmem_cache_alloc(req_cache!, GFP_KERNEL);
        if (req == NULL)
            return -ENOMEM;
        spin_lock_irqsave(q_lock, out ulong flags);
        submit_comm = current.comm; // ok: spinlock held in process context, but this is not interrupt context
        queued++;
        spin_unlock_irqrestore(q_lock, flags);
        kmem_cache_free(req_cache!, req);
        wake_up(submit_wait);
        return 0;
    }

    public int wait_idle()
    {
        var wait = DEFINE_WAIT();
        if (in_flight == 0)
            return 0;
        prepare_to_wait(done_wait, wait, TASK_UNINTERRUPTIBLE);
        schedule(); // expect: KH5002 (in_flight was tested once before prepare_to_wait and is never re-tested)
        finish_wait(done_wait, wait);
        return 0;
    }

    public int wait_request(int id)
    {
        var wait = DEFINE_WAIT();
        bool done = done_count > id;
        while (!done)
        {
            prepare_to_wait(done_wait, wait, TASK_INTERRUPTIBLE);
            schedule(); // expect: KH5002 (the loop tests the local done, which nothing updates after the first read)
        }
        finish_wait(done_wait, wait);
        return 0;
    }

    public int settle_engine()
    {
        var wait = DEFINE_WAIT();
        for (int i = 0; i < 3; i++)
        {
            prepare_to_wait(done_wait, wait, TASK_UNINTERRUPTIBLE);
            schedule(); // expect: KH5002 (counting loop never tests in_flight: it sleeps through three wake-ups whatever happens)
        }
        finish_wait(done_wait, wait);
        return in_flight == 0 ? 0 : -EBUSY;
    }

    public int retry_start()
    {
        var wait = DEFINE_WAIT();
        int tries = 3;
        while (tries-- > 0)
        {
            prepare_to_wait(submit_wait, wait, TASK_INTERRUPTIBLE);
            schedule(); // expect: KH5002 (the loop only counts its own tries, it never re-tests engine_up)
        }
        finish_wait(submit_wait, wait);
        return engine_up ? 0 : -EIO;
    }

    public int wait_drained()
    {
        var wait = DEFINE_WAIT();
        for (int tries = 0; tries < 5; tries++)
        {
            prepare_to_wait(done_wait, wait, TASK_UNINTERRUPTIBLE);
            if (in_flight == 0)
                break;
            schedule_timeout((long)(HZ / 50)); // ok: bounded retries, but each pass re-tests in_flight and leaves when it is 0
        }
        finish_wait(done_wait, wait);
        return in_flight == 0 ? 0 : -EBUSY;
    }

    public kptr snapshot()
    {
        local_irq_save(out ulong flags);
        var snap = kmalloc(16, GFP_NOIO); // expect: KH1002 (GFP_NOIO still allows direct reclaim; interrupts are disabled)
        var spare = kmalloc(16, GFP_NOWAIT); // ok: GFP_NOWAIT never blocks
        int q = queued, f = in_flight;
        local_irq_restore(flags);
        kfree(spare);
        if (snap == NULL)
            return NULL;
        ptr_ref<int>(snap) = q;
        ptr_ref<int>(snap + 4) = f;
        return snap;
    }

    public int pin_and_poll(bool pin)
    {
        if (pin)
            preempt_disable();
        int seen = done_count;
        preempt_enable(); // expect: KH2001 (on the !pin path preempt_enable has nothing to undo)
        return seen;
    }

    public void shutdown()
    {
        engine_up = false;
        del_timer_sync(watchdog);
        if (dispatcher != null) kthread_stop(dispatcher);
        if (reaper != null) kthread_stop(reaper);
        free_irq(irq, this);
        flush_done(); // ok: same helper as in watchdog_fired, but shutdown() runs in process context
        cancel_work_sync(rekey_work);
        kfree(slots);
        slots = NULL;
        if (req_cache != null)
            kmem_cache_destroy(req_cache);
    }
}
