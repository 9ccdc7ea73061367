// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

/// @title SortedTranscoderPool
/// @notice The BondingManager's transcoder pool: a doubly-linked list of addresses sorted by key
///         (delegated stake), largest first, with a maximum size (protocol.md §2.4 "The pool";
///         the role of livepeer/protocol contracts/libraries/SortedDoublyLL.sol).
/// @dev Our own design, inlined into the BondingManager (internal functions, no linking). Keys are
///      always > 0, so "key > 0" doubles as membership. A `(prev, next)` position hint is used when it
///      is exactly right; otherwise the position is found by walking down from the head, where a new
///      key is placed before the first node whose key is ≤ it (ties: the newer node goes first, so the
///      oldest of equal keys is the tail and is evicted first), as upstream's search from the head does.
library SortedTranscoderPool {
    /// @notice One list entry.
    struct Node {
        uint256 key; // the transcoder's delegated stake; 0 = not in the list
        address nextId; // next node (smaller or equal key), 0 at the tail
        address prevId; // previous node (larger or equal key), 0 at the head
    }

    /// @notice The list: head (largest key), tail (smallest key), capacity, size and nodes.
    struct Data {
        address head;
        address tail;
        uint256 maxSize;
        uint256 size;
        mapping(address => Node) nodes;
    }

    /// @notice Raise the capacity; it can only grow (protocol.md §2.2 `setNumActiveTranscoders`).
    function setMaxSize(Data storage self, uint256 _size) internal {
        require(_size > self.maxSize, "new max size must be greater than old max size");
        self.maxSize = _size;
    }

    /// @notice Insert `_id` with `_key` at its sorted position (hint used only when valid).
    function insert(Data storage self, address _id, uint256 _key, address _prevHint, address _nextHint) internal {
        require(self.size < self.maxSize, "list is full");
        require(!contains(self, _id), "node already in list");
        require(_id != address(0), "id is null");
        require(_key > 0, "key is zero");

        (address prev, address next) = _validPosition(self, _key, _prevHint, _nextHint)
            ? (_prevHint, _nextHint)
            : _descend(self, _key);

        Node storage n = self.nodes[_id];
        n.key = _key;
        n.prevId = prev;
        n.nextId = next;
        if (prev == address(0)) self.head = _id;
        else self.nodes[prev].nextId = _id;
        if (next == address(0)) self.tail = _id;
        else self.nodes[next].prevId = _id;
        self.size += 1;
    }

    /// @notice Remove `_id`; reverts "node not in list" if absent.
    function remove(Data storage self, address _id) internal {
        require(contains(self, _id), "node not in list");
        Node storage n = self.nodes[_id];
        address prev = n.prevId;
        address next = n.nextId;
        if (prev == address(0)) self.head = next;
        else self.nodes[prev].nextId = next;
        if (next == address(0)) self.tail = prev;
        else self.nodes[next].prevId = prev;
        delete self.nodes[_id];
        self.size -= 1;
    }

    /// @notice Move `_id` to `_newKey`'s position; a new key of 0 removes it (protocol.md §2.4).
    function updateKey(Data storage self, address _id, uint256 _newKey, address _prevHint, address _nextHint) internal {
        remove(self, _id);
        if (_newKey != 0) insert(self, _id, _newKey, _prevHint, _nextHint);
    }

    /// @notice Whether `_id` is in the list.
    function contains(Data storage self, address _id) internal view returns (bool) {
        return self.nodes[_id].key > 0;
    }

    /// @notice Whether the list holds `maxSize` nodes.
    function isFull(Data storage self) internal view returns (bool) {
        return self.size == self.maxSize;
    }

    /// @dev Whether `(prev, next)` is a correct slot for `_key` in the current list.
    function _validPosition(Data storage self, uint256 _key, address _prev, address _next) private view returns (bool) {
        if (_prev == address(0) && _next == address(0)) return self.size == 0;
        if (_prev == address(0)) return self.head == _next && _key >= self.nodes[_next].key;
        if (_next == address(0)) return self.tail == _prev && _key <= self.nodes[_prev].key;
        Node storage p = self.nodes[_prev];
        return p.nextId == _next && p.key >= _key && _key >= self.nodes[_next].key && self.nodes[_next].key > 0;
    }

    /// @dev Walk down from the head to the first node whose key is ≤ `_key`; return its neighbours.
    function _descend(Data storage self, uint256 _key) private view returns (address prev, address next) {
        next = self.head;
        while (next != address(0) && _key < self.nodes[next].key) {
            prev = next;
            next = self.nodes[next].nextId;
        }
    }
}
